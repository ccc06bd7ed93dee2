"""Cases and references the decoding and alignment tests share: tiny log-probabilities and
targets, exact labelling scores by brute force, an ARPA writer, the LibriSpeech sample that
ships with pyctcdecode, and the inputs every decoder must refuse."""

import dataclasses
import functools
import itertools
import json
import math
import pathlib

import numpy as np
import pytest

import lucid
from lucid.ctc import CTCHypothesis


# ------------------------------------------------------------------------ calling lucid.ctc
@dataclasses.dataclass
class Hyp:
    """A CTCHypothesis with plain lists for tokens and timesteps, for tests that compare them
    to lists."""

    tokens: list
    score: float
    timesteps: list
    words: list
    word_spans: list


def listed(result):
    """A decoder's result with every CTCHypothesis as a Hyp (nesting kept)."""
    if isinstance(result, CTCHypothesis):
        return Hyp(result.tokens.tolist(), result.score, result.timesteps.tolist(),
                   result.words, result.word_spans)
    if isinstance(result, list):
        return [listed(item) for item in result]
    return result


def time_first(decode):
    """A lucid.ctc decoder called as these tests build their log-probs, time first (T, N, C)
    as for ctc_loss (lucid.ctc takes (N, T, C): the 3-D input is transposed, a view), with
    Hyp results. The batch-first layout itself is tested in test_decode.py and
    test_beam_search.py."""
    @functools.wraps(decode)
    def call(log_probs, *args, **kwargs):
        if isinstance(log_probs, lucid.Tensor) and log_probs.ndim == 3:
            log_probs = log_probs.transpose(0, 1)
        return listed(decode(log_probs, *args, **kwargs))
    return call


class TimeFirstDecoder:
    """A CTCDecoder called as time_first calls a decoding function; its other attributes are
    the decoder's."""

    def __init__(self, decoder):
        self.decoder = decoder

    def __call__(self, log_probs, *args, **kwargs):
        return time_first(self.decoder)(log_probs, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.decoder, name)


def time_first_decoder(build):
    """ctc_decoder, its decoders wrapped in TimeFirstDecoder."""
    @functools.wraps(build)
    def call(*args, **kwargs):
        return TimeFirstDecoder(build(*args, **kwargs))
    return call


# ------------------------------------------------------------------------------ references
def random_case(rng, max_paths=5000):
    """Tiny free log-probs and a target, often repeat-heavy and sometimes too long to fit."""
    T, C = int(rng.integers(1, 7)), int(rng.integers(2, 5))
    while C**T > max_paths:
        T -= 1
    blank = int(rng.integers(0, C))
    labels = [c for c in range(C) if c != blank]
    if rng.random() < 0.4:
        labels = labels[:1] if rng.random() < 0.5 else labels[:2]
    target = [int(rng.choice(labels)) for _ in range(int(rng.integers(0, T + 2)))]
    return rng.normal(scale=2.0, size=(T, C)), target, blank


def one_hot_log_probs(frames, C, p=0.9):
    """log of p on each frame's class and (1 - p) / (C - 1) elsewhere."""
    probs = np.full((len(frames), C), (1 - p) / (C - 1))
    probs[np.arange(len(frames)), frames] = p
    return np.log(probs)


# -------------------------------------------------------------------------- validation
GOOD = dict(log_probs=lucid.zeros(5, 2, 4), targets=[[1, 2], [3, 0]], input_lengths=[5, 4],
            target_lengths=[2, 1])


BAD_INPUTS = [
    dict(log_probs=np.zeros((5, 2, 4))),
    dict(log_probs=lucid.zeros(5, 2, 4, dtype=lucid.int64)),
    dict(log_probs=lucid.zeros(5, 2, 4, 1)),
    dict(log_probs=lucid.zeros(0, 2, 4)),
    dict(blank=4),
    dict(blank=1.0),
    dict(input_lengths=[5, 6]),
    dict(input_lengths=[5]),
    dict(input_lengths=[5.0, 4.0]),
    dict(input_lengths=[5, -1]),
    dict(target_lengths=[3, 1]),
    dict(target_lengths=None),
    dict(targets=[[1, 4], [3, 0]]),
    dict(targets=[[1, 2], [0, 0]]),
    dict(targets=[[1.0, 2.0], [3.0, 0.0]]),
    dict(targets=[1, 2]),
]


def error_of(fn, **kwargs):
    """The exception type and message, after checking the message opens with fn's name."""
    with pytest.raises((ValueError, TypeError)) as info:
        fn(**kwargs)
    name, message = str(info.value).split(": ", 1)
    assert name == fn.__name__
    return info.type, message


def error_batch_first(fn, **kwargs):
    """error_of a lucid.ctc function given the (T, N, C) log_probs of kwargs transposed to its
    (N, T, C), with the message put back in ctc_loss's layout, to compare with ctc_loss's."""
    lp = kwargs["log_probs"]
    if isinstance(lp, lucid.Tensor) and lp.ndim == 3:
        kwargs["log_probs"] = lp.transpose(0, 1)
    kind, message = error_of(fn, **kwargs)
    if isinstance(lp, lucid.Tensor):
        message = message.replace(str(kwargs["log_probs"].shape), str(lp.shape))
    return kind, message.replace("(N, T, C)", "(T, N, C)")


def brute_force(lp, blank):
    """Every labelling's log-probability, by summing over all C**T frame-level paths."""
    T, C = lp.shape
    totals = {}
    for path in itertools.product(range(C), repeat=T):
        labelling = tuple(c for i, c in enumerate(path)
                          if c != blank and (i == 0 or c != path[i - 1]))
        totals[labelling] = np.logaddexp(totals.get(labelling, -np.inf),
                                         lp[np.arange(T), path].sum())
    return totals


def random_log_probs(rng, T, N, C, peaky=1.0):
    logits = rng.standard_normal((T, N, C)) * peaky
    return logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))


def write_arpa(path, ngrams):
    """ngrams: per order, {words tuple: (log10 prob, log10 backoff or None)}."""
    lines = ["\\data\\"] + [f"ngram {k}={len(t)}" for k, t in enumerate(ngrams, 1)]
    for k, table in enumerate(ngrams, 1):
        lines += ["", f"\\{k}-grams:"]
        for words, (p, bo) in table.items():
            lines.append(f"{p:.6f}\t{' '.join(words)}" + ("" if bo is None else f"\t{bo:.6f}"))
    lines += ["", "\\end\\", ""]
    path.write_text("\n".join(lines))
    return path


TOKENS = ["-", "|", "c", "a", "t", "p"]


def spelled(frames, strength=0.9):
    """Log-probabilities (T, C) peaked on the given class of each frame."""
    C = len(TOKENS)
    return np.log(strength * np.eye(C)[frames] + (1 - strength) / C)


def cat_or_cap(p_t=0.5, p_p=0.4):
    """ "ca" then a last frame torn between t and p."""
    lp = spelled([2, 0, 3, 0, 0])
    last = np.full(len(TOKENS), 0.1 / (len(TOKENS) - 2))
    last[4], last[5] = p_t, p_p
    return lucid.tensor(np.vstack([lp, np.log(last)[None]]))


# ------------------------------------------------------- real posteriors, against pyctcdecode
def libri():
    """pyctcdecode's LibriSpeech sample: (371, 29) log-probabilities with the blank last."""
    pyctcdecode = pytest.importorskip("pyctcdecode")
    data = pathlib.Path(pyctcdecode.__file__).parent / "tests" / "sample_data"
    if not (data / "libri_logits.json").exists():
        pytest.skip("pyctcdecode's sample data is not in the installed package")
    logits = np.array(json.loads((data / "libri_logits.json").read_text()), dtype=np.float64)
    labels = [" ", *"abcdefghijklmnopqrstuvwxyz", "'"]
    return logits, labels, data / "bugs_bunny_kenlm.arpa"


def pyctcdecode_log_probs(logits):
    """pyctcdecode's own normalisation: log-softmax, clipped at log(1e-15)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    lp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return np.clip(lp, math.log(1e-15), 0)
