"""What the server does when a browser session is gone for good: Streamlit keeps a closed
tab's session for its reconnect window (server.disconnectedSessionTTL, two minutes), then
drops it. Its objects hold one another in reference cycles, so they (and the jobs
ui.live.SessionJobs stops) are freed only by a full garbage collection, which the app does
not run after each script run; this asks for one, and for the freed memory to go back to
the system (engine.pool.release_memory), when the session's AppSession is freed."""
from __future__ import annotations

import weakref

import streamlit as st
from streamlit.runtime import Runtime
from streamlit.runtime.scriptrunner import get_script_run_ctx

from engine.pool import release_memory_soon

WATCHED = "_memory_released_when_gone"


def release_when_gone() -> None:
    """Once per session (app.py calls it on every script run): when Streamlit drops this
    session, release what it held. A no-op outside a server (AppTest, bare mode)."""
    if st.session_state.get(WATCHED):
        return
    ctx = get_script_run_ctx()
    session = Runtime.instance().get_app_session(ctx.session_id) if ctx and Runtime.exists() else None
    if session is not None:
        release_on_free(session)
        st.session_state[WATCHED] = True


def release_on_free(session: object) -> None:
    """When ``session`` is freed, release the memory of what it left behind. This relies on
    Streamlit freeing a dropped AppSession by reference counting (its own tests guard
    against reference leaks there); if a future Streamlit kept it in a cycle, the release
    would wait for Python's own collector instead. Not at the server's exit: the process
    is going anyway."""
    weakref.finalize(session, release_memory_soon).atexit = False
