"""Every exported form of a checkpoint gives the masked dense model's outputs, and the
sizes are consistent. (Latencies are measured in benchmarks, not asserted.)"""
import io

import pytest
import torch

from engine import efficiency as eff
from engine.checkpoints import Checkpoint, load_checkpoint
from engine.config import RunConfig
from engine.experiment import run


@pytest.fixture(scope="module")
def sparse_ckpt(tmp_path_factory):
    """A trained digits MLP with ~90% of its weights pruned in one global cut."""
    root = tmp_path_factory.mktemp("runs")
    config = RunConfig(dataset="digits", depth=2, width=64, strategy="global", amount=0.9, cycles=1,
                       warmup_epochs=4, epochs_per_cycle=3, batch_size=64, lr=3e-3, seed=0)
    result = run(config, root)
    return load_checkpoint(f"{result['run_dir']}/final.pt")


@pytest.fixture(scope="module")
def unpruned_ckpt(sparse_ckpt):
    """The same run just before its cut: trained, dense."""
    return load_checkpoint(sparse_ckpt.path.replace("final.pt", "cycle_01_pre.pt"))


@pytest.fixture(scope="module")
def forms(sparse_ckpt):
    return eff.Forms.of(sparse_ckpt)


def test_every_form_matches_the_masked_dense_model(sparse_ckpt, forms):
    x, y, source = eff.check_inputs(sparse_ckpt)
    assert y is not None and "digits" in source
    rows = {row["form"]: row for row in eff.agreement_table(forms, x, y)}
    assert set(rows) == {"dense", "sparse CSR", "structured-shrunk", "INT8 dynamic"}
    assert all(row["verified"] for row in rows.values()), rows
    for exact in ("sparse CSR", "structured-shrunk"):
        assert rows[exact]["same_predictions"] == 1.0
    assert abs(rows["INT8 dynamic"]["accuracy"] - rows["dense"]["accuracy"]) < 0.05


def test_dense_form_is_the_checkpoint_model_with_masks(sparse_ckpt, forms):
    model = sparse_ckpt.model()
    x = torch.randn(16, sparse_ckpt.arch["in_features"])
    with torch.no_grad():
        assert torch.allclose(eff.as_sequential(forms.dense)(x), model(x), atol=1e-6)


def test_shrink_drops_dead_neurons_and_keeps_outputs():
    torch.manual_seed(0)
    w1, b1 = torch.randn(5, 3), torch.tensor([0.5, -1.0, 0.2, 0.3, 0.7])
    w2, b2 = torch.randn(4, 5), torch.randn(4)
    w3, b3 = torch.randn(2, 4), torch.randn(2)
    w1[0] = 0   # neuron 0: no input, outputs relu(0.5) = 0.5 -> folded into layer 2's bias
    w1[1] = 0   # neuron 1: no input and relu(-1) = 0
    w2[:, 3] = 0  # neuron 3: feeds nothing
    w3[:, 2] = 0  # layer-2 neuron 2 feeds nothing
    layers = [(w1, b1), (w2, b2), (w3, b3)]
    shrunk = eff.shrink(layers)
    assert [w.shape for w, _ in shrunk] == [(2, 3), (3, 2), (2, 3)]
    x = torch.randn(32, 3)
    assert torch.allclose(eff.as_sequential(shrunk)(x), eff.as_sequential(layers)(x), atol=1e-6)


def test_sizes_are_consistent_at_90_percent_sparsity(sparse_ckpt, unpruned_ckpt, forms):
    counts = eff.parameter_counts(sparse_ckpt, forms)
    layer_nonzero = sum(r["nonzero"] for r in sparse_ckpt.layer_table())
    biases = sum(b.count_nonzero().item() for _, b in forms.dense)
    assert counts["nonzero_params"] == layer_nonzero + biases
    assert 0.85 < counts["sparsity"] < 0.95
    sizes = {row["form"]: row["bytes"] for row in eff.size_table(sparse_ckpt, forms)}
    dense = sizes["masks baked in, dense fp32"]
    assert sizes["sparse CSR, 32-bit indices"] < dense
    assert sizes["INT8 dynamic"] < dense and sizes["INT8 dynamic, gzip"] < sizes["INT8 dynamic"]
    assert sizes["structured-shrunk dense fp32"] <= dense
    # gzip of the 90%-sparse model beats gzip of the same model unpruned
    unpruned = {row["form"]: row["bytes"] for row in eff.size_table(unpruned_ckpt)}
    assert unpruned["masks baked in, dense fp32"] == dense
    assert sizes["dense fp32, gzip"] < 0.5 * unpruned["dense fp32, gzip"]
    assert unpruned["sparse CSR, 32-bit indices"] > dense  # dense weights: CSR only adds indices
    assert eff.int8_gzip_factor(eff.size_table(sparse_ckpt, forms)) == pytest.approx(
        dense / sizes["INT8 dynamic, gzip"])


def test_csr_form_uses_32_bit_indices_and_loads_safely(forms):
    csr = eff.to_csr32(forms.dense[0][0])
    assert csr.crow_indices().dtype == csr.col_indices().dtype == torch.int32
    buffer = io.BytesIO(eff._saved_bytes(eff._csr_dict(forms.dense)))
    restored = torch.load(buffer, weights_only=True)
    assert restored["0.values"].numel() == int(forms.dense[0][0].count_nonzero())


def test_latency_table_covers_every_form_and_restores_threads(forms):
    threads = torch.get_num_threads()
    rows = eff.latency_table(forms, batches=(1, 8), budget_s=0.01)
    assert torch.get_num_threads() == threads
    assert {(r["form"], r["batch"]) for r in rows} == {
        (f, b) for f in ("dense", "sparse CSR", "structured-shrunk", "INT8 dynamic") for b in (1, 8)}
    assert all(r["ms"] > 0 and r["threads"] == 1 for r in rows)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU message")
def test_semi_structured_is_skipped_with_a_reason_on_cpu(forms):
    report = eff.semi_structured_report(forms)
    assert "CUDA GPU" in report["skipped"]


def test_the_2_4_mask_keeps_two_of_every_four():
    from engine.pruning import n_of_m_mask  # the one N:M mask, for pruning and for the GPU report

    weight = torch.randn(8, 16)
    mask = n_of_m_mask(weight.abs(), torch.ones_like(weight, dtype=torch.bool), 2, 4)
    assert torch.all(mask.reshape(8, 4, 4).sum(-1) == 2)
    kept_min = weight.abs()[mask].reshape(8, 4, 2).min(-1).values
    dropped_max = weight.abs()[~mask].reshape(8, 4, 2).max(-1).values
    assert torch.all(kept_min >= dropped_max)


def test_check_inputs_never_download(sparse_ckpt):
    """Covertype without a local copy (and huge synthetic sets) fall back to random rows."""
    for config in ({"dataset": "covertype"}, {"dataset": "synthetic", "rows": 5_000_000}, {}):
        sparse_ckpt_like = Checkpoint(sparse_ckpt.arch, sparse_ckpt.state_dict, sparse_ckpt.masks,
                                      config=config)
        x, y, source = eff.check_inputs(sparse_ckpt_like)
        assert y is None and "random" in source and x.shape[1] == sparse_ckpt.arch["in_features"]
