"""beam_search_decode against brute force over every path (tiny cases) and lucid's ctc_loss."""


import numpy as np
import pytest
from helpers.ctc_reference import collapse
from helpers.decoding import brute_force, random_log_probs, time_first

import lucid
from lucid import ctc
from lucid.nn.functional import ctc_loss

# the tests build log-probs time first, as for ctc_loss; results with lists (helpers.decoding)
beam_search_decode = time_first(ctc.beam_search_decode)
greedy_decode = time_first(ctc.greedy_decode)


@pytest.mark.parametrize("T, C, blank", [(1, 3, 0), (4, 3, 0), (5, 3, 2), (6, 2, 1), (4, 4, 0)])
@pytest.mark.parametrize("seed", [0, 1])
def test_unpruned_search_is_exact(T, C, blank, seed):
    rng = np.random.default_rng(seed)
    lp = random_log_probs(rng, T, 1, C, peaky=2.0)
    exact = brute_force(lp[:, 0], blank)
    ranked = sorted(exact.items(), key=lambda kv: -kv[1])
    k = min(len(ranked), 6)
    width = 4 ** T  # more than there are prefixes
    hyps = beam_search_decode(lucid.tensor(lp), [T], beam_width=width, blank=blank,
                                  top_k=k)[0]
    assert len(hyps) == k
    assert tuple(hyps[0].tokens) == ranked[0][0]  # the MAP labelling
    for hyp in hyps:  # every score exact, in order
        assert hyp.score == pytest.approx(exact[tuple(hyp.tokens)], abs=1e-12)
    assert [h.score for h in hyps] == pytest.approx([s for _, s in ranked[:k]], abs=1e-12)


def test_scores_are_minus_ctc_loss_in_a_batch():
    rng = np.random.default_rng(3)
    T, N, C = 7, 4, 4
    lp = lucid.tensor(random_log_probs(rng, T, N, C, peaky=3.0))
    lengths = [7, 5, 1, 6]
    batch = beam_search_decode(lp, lengths, beam_width=4 ** T, top_k=5)
    for n, hyps in enumerate(batch):
        for hyp in hyps:
            loss = ctc_loss(lp[:, n], hyp.tokens, lengths[n], len(hyp.tokens),
                            reduction="none").item()
            assert hyp.score == pytest.approx(-loss, abs=1e-10)
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_width_one_follows_the_greedy_path_on_peaky_input():
    rng = np.random.default_rng(4)
    lp = lucid.tensor(random_log_probs(rng, 30, 3, 5, peaky=8.0))
    beam = beam_search_decode(lp, [30, 30, 30], beam_width=1)
    assert [b[0].tokens for b in beam] == greedy_decode(lp, [30, 30, 30])


@pytest.mark.parametrize("n_threads", [1, 2])
def test_same_result_on_any_thread_count_and_dtype(n_threads):
    rng = np.random.default_rng(5)
    lp = random_log_probs(rng, 40, 6, 6)
    before = lucid.get_num_threads()
    lucid.set_num_threads(n_threads)
    try:
        a = beam_search_decode(lucid.tensor(lp), [40, 3, 0, 40, 20, 39], beam_width=8,
                                   top_k=3)
    finally:
        lucid.set_num_threads(before)
    b = [beam_search_decode(lucid.tensor(lp[:, n]), length, beam_width=8, top_k=3)
         for n, length in enumerate([40, 3, 0, 40, 20, 39])]
    assert a == b
    c = beam_search_decode(lucid.tensor(lp.astype(np.float32)), [40, 3, 0, 40, 20, 39],
                               beam_width=8, top_k=3)
    assert [[h.tokens for h in hs] for hs in c] == [[h.tokens for h in hs] for hs in a]


def test_empty_input_and_impossible_emissions():
    with np.errstate(divide="ignore"):
        lp = np.log(np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.0]]))
    (hyp,) = beam_search_decode(lucid.tensor(lp), 0)
    assert hyp.tokens == [] and hyp.score == 0.0  # zero frames: the empty labelling, surely
    hyps = beam_search_decode(lucid.tensor(lp), 2, beam_width=10, top_k=3)
    assert all(2 not in h.tokens for h in hyps)  # class 2 has probability 0


def test_timesteps_are_the_frames_of_the_spikes():
    frames = [0, 0, 1, 0, 0, 2, 2, 0, 1, 0]  # spikes of a at 2, b at 5, a at 8
    lp = lucid.tensor(np.log(0.94 * np.eye(3)[frames] + 0.02))
    (hyp,) = beam_search_decode(lp, 10, beam_width=16)
    assert hyp.tokens == [1, 2, 1]
    assert hyp.timesteps == [2, 5, 8]
    assert hyp.words == []  # no word-level setup here: see lucid.ctc.decoder


def test_input_is_not_modified():
    rng = np.random.default_rng(6)
    lp = random_log_probs(rng, 5, 2, 3)
    x = lucid.tensor(lp.copy())
    lengths = np.array([5, 4])
    beam_search_decode(x, lengths, beam_width=3)
    np.testing.assert_array_equal(x.numpy(), lp)
    np.testing.assert_array_equal(lengths, [5, 4])


@pytest.mark.parametrize("kwargs, error, match", [
    ({"input_lengths": [5, 6]}, ValueError, "input_lengths"),
    ({"input_lengths": [5]}, ValueError, "input_lengths"),
    ({"beam_width": 0}, ValueError, "beam_width must be at least 1, got 0"),
    ({"beam_width": 2.0}, TypeError, "beam_width must be an int"),
    ({"blank": 3}, ValueError, r"blank must be a class index in \[0, 3\), got 3"),
    ({"blank": -1}, ValueError, "blank"),
    ({"top_k": 5, "beam_width": 4}, ValueError, "top_k must be at most beam_width = 4, got 5"),
    ({"token_min_logp": 1.0}, ValueError, "token_min_logp must be <= 0"),
    ({"beam_threshold": -1.0}, ValueError, "beam_threshold must be >= 0"),
])
def test_bad_input_is_a_clear_error(kwargs, error, match):
    rng = np.random.default_rng(7)
    args = {"log_probs": lucid.tensor(random_log_probs(rng, 5, 2, 3)), "input_lengths": [5, 4]}
    args.update(kwargs)
    with pytest.raises(error, match=match):
        beam_search_decode(**args)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_and_plus_inf_are_errors(bad):
    lp = np.full((3, 1, 2), np.log(0.5))
    lp[1, 0, 1] = bad
    with pytest.raises(ValueError, match=r"log_probs must not contain NaN or \+inf"):
        beam_search_decode(lucid.tensor(lp), [3])


def test_strided_input_reads_the_same():
    rng = np.random.default_rng(9)
    batch_first = random_log_probs(rng, 9, 3, 4).transpose(1, 0, 2).copy()  # (N, T, C)
    view = lucid.tensor(batch_first).transpose(0, 1)  # (T, N, C), not contiguous
    contiguous = lucid.tensor(np.ascontiguousarray(batch_first.transpose(1, 0, 2)))
    assert beam_search_decode(view, [9, 8, 7], beam_width=5, top_k=3) == \
        beam_search_decode(contiguous, [9, 8, 7], beam_width=5, top_k=3)


def test_long_input_grows_the_prefix_store():
    """Uniform-ish frames create new prefixes on every frame: far more than the workspace's
    first allocation, which must grow without changing anything."""
    rng = np.random.default_rng(8)
    T = 1500
    lp = lucid.tensor(random_log_probs(rng, T, 2, 4, peaky=0.5))
    hyps = beam_search_decode(lp, [T, T - 7], beam_width=3, top_k=2)
    for n, length in enumerate([T, T - 7]):
        for hyp in hyps[n]:
            assert len(hyp.tokens) > 300
            assert all(a < b for a, b in zip(hyp.timesteps, hyp.timesteps[1:]))
            assert 0 <= hyp.timesteps[0] and hyp.timesteps[-1] < length
            exact = -ctc_loss(lp[:, n], hyp.tokens, length, len(hyp.tokens)).item()
            assert hyp.score <= exact + 1e-9  # a pruned beam can only miss paths
    alone = beam_search_decode(lp[:, 1], T - 7, beam_width=3, top_k=2)
    assert alone == hyps[1]


def reference_beam_search(lp, blank, width):
    """The prefix beam search in plain Python dictionaries: {prefix: (pb, pnb)}, all classes
    tried on every frame, the `width` best kept (random inputs: no ties)."""
    def add(nxt, prefix, b, nb):
        ob, onb = nxt.get(prefix, (-np.inf, -np.inf))
        nxt[prefix] = (np.logaddexp(ob, b), np.logaddexp(onb, nb))

    beams = {(): (0.0, -np.inf)}
    for y in lp:
        nxt = {}
        for prefix, (b, nb) in beams.items():
            total = np.logaddexp(b, nb)
            add(nxt, prefix, total + y[blank], -np.inf)
            if prefix:
                add(nxt, prefix, -np.inf, nb + y[prefix[-1]])
            for c in range(len(y)):
                if c != blank:
                    src = b if prefix and c == prefix[-1] else total
                    add(nxt, prefix + (c,), -np.inf, src + y[c])
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))
        beams = dict(ranked[:width])
    return sorted(((k, np.logaddexp(*v)) for k, v in beams.items()), key=lambda kv: -kv[1])


@pytest.mark.parametrize("width", [1, 2, 5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pruned_search_matches_a_plain_reference(width, seed):
    """A full beam: pruning, merges and the early skipping of hopeless classes all at work."""
    rng = np.random.default_rng(seed)
    T, C = 12, 4
    lp = random_log_probs(rng, T, 1, C, peaky=3.0)[:, 0]
    expected = reference_beam_search(lp, 0, width)
    hyps = beam_search_decode(lucid.tensor(lp), T, beam_width=width, top_k=width)
    assert [tuple(h.tokens) for h in hyps] == [k for k, _ in expected]
    assert [h.score for h in hyps] == pytest.approx([s for _, s in expected], abs=1e-12)


def test_batch_first_layout_and_tensor_fields():
    """lucid.ctc's convention, as torchaudio's: (N, T, C) in, each sample as if alone (T, C);
    tokens int64 and timesteps int32 Tensors; lengths default to T."""
    rng = np.random.default_rng(21)
    logits = rng.normal(size=(3, 9, 4))
    lp = lucid.tensor(logits - np.log(np.exp(logits).sum(axis=2, keepdims=True)))
    batch = ctc.beam_search_decode(lp, beam_width=6, top_k=2)
    assert batch == ctc.beam_search_decode(lp, [9, 9, 9], beam_width=6, top_k=2)
    for n, hyps in enumerate(batch):
        assert hyps == ctc.beam_search_decode(lp[n], beam_width=6, top_k=2)
        for hyp in hyps:
            assert hyp.tokens.dtype == lucid.int64 and hyp.timesteps.dtype == lucid.int32
            assert hyp.tokens.shape == hyp.timesteps.shape
    greedy = ctc.greedy_decode(lp)
    assert greedy == [ctc.greedy_decode(lp[n], 9) for n in range(3)]
    assert greedy == [collapse(lp.numpy()[n].argmax(axis=1).tolist(), 0) for n in range(3)]
