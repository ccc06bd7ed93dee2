"""The CTC beam-search decoder with a language model, a lexicon, hotwords and label priors.

A thin front end: it turns token strings, the LM, the lexicon and the hotwords into the
arrays the prefix beam search of lucid/_C/_ctc_beam.pyx reads (design note C. there), adjusts
the log-probabilities with numpy (blank penalty, label priors), and turns the token indices
it returns into words.
"""

from __future__ import annotations

import itertools
import math
import os
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from lucid._tensor import Tensor
from lucid.ctc.arpa import NGramLM, split_words
from lucid.ctc.beam import (
    CTCHypothesis,
    WordSpan,
    check_positive_int,
    check_threshold,
    prefix_beam_search,
)
from lucid.ctc.lm import (
    CTCDecoderLM,
    KenLMModel,
    alone_score,
    is_kenlm_model,
    is_python_lm,
    read_lm_dict,
)
from lucid.ctc.stream import DecodeStream, Found, search_inside_words
from lucid.nn.functional._ctc_checks import batch_first_lengths, check_log_probs, show_value

_FN = "CTCDecoder"


class CTCDecoder:
    """Beam-search decoder for CTC outputs with an n-gram language model (shallow fusion).

    Build it with :func:`ctc_decoder`; call it on log-probabilities. Each hypothesis is
    ranked by

    ``ln P_CTC(tokens) + lm_weight * log10 P_LM(words) + word_score * #words``
    ``+ unk_word_score * #unknown words + sil_score * #delimiters + hotword boosts``

    where ``P_CTC`` sums over every frame-level path of the labelling (the prefix beam search
    of :func:`~lucid.ctc.beam_search_decode`) and ``P_LM`` includes ``<s>`` and
    ``</s>``. While a word is being spelled, its score so far is ``unk_word_score`` if no
    known word starts that way, or a hotword's boost in proportion to how much of it is
    spelled. With ``lm_level="char"`` every token is a word of the LM instead.

    Call it on a batch, or feed one stream chunk by chunk with torchaudio's
    :meth:`decode_begin`, :meth:`decode_step`, :meth:`decode_end` and
    :meth:`get_final_hypothesis`; :meth:`get_best_hypothesis` gives the best hypothesis so far
    at any point. Both ways run the same search: any chunking gives the offline result.
    """

    def __init__(self, tokens, blank, sil, scoring, beam_size, nbest, beam_threshold,
                 token_min_logp, blank_penalty, log_priors, word_of=None,
                 beam_size_token=None, word_start=None, word_marker=None):
        self.tokens = tokens
        self.word_marker = word_marker
        self.blank = blank
        self.sil = sil
        self._scoring = scoring
        self._word_of = word_of  # with a lexicon: spelling key (see _word_pieces) -> its word
        # per token: whether it starts a word (sentencepiece's "▁" pieces), or None
        self._word_start = word_start
        # per token: its part of a word's text (without the word-start marker), and its length
        texts = [t[len(word_marker):] if word_start is not None and word_start[i] else t
                 for i, t in enumerate(tokens)]
        self._texts = (np.array(texts, dtype=object),
                       np.array([len(t) for t in texts], dtype=np.int64))
        self._stream: DecodeStream | None = None
        self.beam_size = beam_size
        self.nbest = nbest
        self.beam_threshold = beam_threshold
        self.token_min_logp = token_min_logp
        self.blank_penalty = blank_penalty
        self._log_priors = log_priors
        self.beam_size_token = beam_size_token

    def __call__(self, emissions: Tensor, lengths: Any = None
                 ) -> list[list[CTCHypothesis]] | list[CTCHypothesis]:
        """Decode a batch.

        Parameters
        ----------
        emissions : Tensor, float32 or float64, shape (B, T, C) or (T, C)
            Per-frame log-probabilities over the decoder's C tokens, batch first as in
            torchaudio (a (T, B, C) output for ``ctc_loss``: ``x.transpose(0, 1)``).
        lengths : Tensor, array, list or tuple of ints, shape (B,), optional
            Frames of each sample, each in [0, T]; an int for unbatched input. Default: T.

        Returns
        -------
        list of list of CTCHypothesis
            Per sample, up to ``nbest`` hypotheses, best first, with ``words`` filled in (the
            words between word delimiters; with a lexicon, the lexicon's words) and, one per
            word, its :class:`~lucid.ctc.WordSpan` in ``word_spans``: the frame of its first
            token, one past that of its last, and its confidence, the lowest posterior
            ``exp(emissions[b, t, token])`` of its tokens at their ``timesteps``. A single
            list for unbatched input.

        Notes
        -----
        With a lexicon, a hypothesis can only end after a complete word (or a delimiter). If
        none of the beam does (the input stops inside a word, or ``token_min_logp`` pruned
        every way to a word boundary), the sample is searched again without
        ``token_min_logp``, ``beam_size_token`` and ``beam_threshold``, and the hypotheses
        that end inside a word are returned if still no other is, as flashlight (torchaudio's
        decoder) does: their ``tokens`` include the unfinished word, their ``words`` and
        ``score`` (the LM terms, ``</s>`` included) only the complete words. A sample for
        which no labelling has a non-zero probability gets an empty list and a warning.
        """
        self._check_classes(emissions)
        hypotheses, unbatched, lp, logps = prefix_beam_search(
            emissions, lengths, self.beam_size, self.blank, self.nbest,
            self.token_min_logp, self.beam_threshold, self._scoring, _FN,
            names=("beam_size", "nbest", "lengths"), warn_unnormalised=True,
            adjust=self._adjust)
        if self._word_of is not None and not all(hypotheses):
            given, _ = check_log_probs(emissions, _FN, batch_first=True)
            il = batch_first_lengths(lp, unbatched, lengths, _FN, "lengths")
            for n, sample in enumerate(hypotheses):
                if not sample:
                    found = self._finish_inside_words(given[: il[n], n])
                    hypotheses[n] = [self._hypothesis(*f) for f in found]
        for n, sample in enumerate(hypotheses):
            if not sample:
                self._warn_none("" if unbatched else f" (sample {n})")
            for hyp, token_logps in zip(sample, logps[n]):
                hyp.words, hyp.word_spans = self._words_and_spans(hyp, token_logps)
        return hypotheses[0] if unbatched else hypotheses

    def _warn_none(self, where: str) -> None:
        allows = "the lexicon allows " if self._word_of is not None else ""
        warnings.warn(f"{_FN}: no hypothesis{where}: every labelling {allows}has probability "
                      f"zero under emissions", stacklevel=3)

    def _finish_inside_words(self, lp: np.ndarray) -> list[Found]:
        """The search of one sample (T, C) again, without pruning by class or threshold, on
        the caller's values adjusted, letting hypotheses end inside a word if none can end
        otherwise (they are scored without their unfinished word)."""
        return search_inside_words(self._adjust(lp, by_class=False), lp, len(self.tokens),
                                   self.blank, self.beam_size, self.nbest, self._scoring)

    def _hypothesis(self, tokens: np.ndarray, frames: np.ndarray, token_logps: np.ndarray,
                    score: float) -> CTCHypothesis:
        """A hypothesis as the kernel gives it, with its words and their spans."""
        hyp = CTCHypothesis(tokens=tokens, score=float(score), timesteps=frames)
        hyp.words, hyp.word_spans = self._words_and_spans(hyp, token_logps)
        return hyp

    # ------------------------------------------------------------------- streaming
    def decode_begin(self) -> None:
        """Start decoding a stream (torchaudio's name): a search of one sample, fed chunk by
        chunk with :meth:`decode_step`. A stream begun before is dropped.

        Raises ValueError if ``beam_size`` needs more memory than can be addressed.

        Examples
        --------
        >>> import numpy as np
        >>> import lucid
        >>> from lucid.ctc import ctc_decoder
        >>> tokens = ["-", "|", "a", "b"]
        >>> frames = [2, 0, 1, 3, 3, 0, 2]  # "a|bb-a": the words "a", "ba"
        >>> emissions = lucid.tensor(np.log(0.9 * np.eye(4)[frames] + 0.025))  # (7, 4)
        >>> decoder = ctc_decoder(None, tokens, beam_size=8)
        >>> decoder.decode_begin()
        >>> decoder.decode_step(emissions[:3])
        >>> decoder.get_best_hypothesis().words  # live: the best so far
        ['a']
        >>> decoder.decode_step(emissions[3:])
        >>> decoder.decode_end()
        >>> (hyp,) = decoder.get_final_hypothesis()
        >>> hyp == decoder(emissions)[0]  # the offline result, for any chunking
        True
        """
        self._stream = None  # the old one's memory goes first
        prunes = self.beam_size_token is not None and self.beam_size_token < len(self.tokens)
        self._stream = DecodeStream(len(self.tokens), self.blank, self.beam_size,
                                    self.token_min_logp, self.beam_threshold, self._scoring,
                                    self._adjust, self._word_of is not None, prunes,
                                    "CTCDecoder.decode_step")

    def decode_step(self, emissions: Tensor) -> None:
        """Search the next frames of the stream (torchaudio's name).

        Parameters
        ----------
        emissions : Tensor, float32 or float64, shape (T_chunk, C)
            The log-probabilities of the next T_chunk frames (0 is allowed), over the
            decoder's C tokens. Chunks may differ in size and dtype.

        Each frame is searched as the offline call searches it, so the stream's result is
        the offline result of all its frames, whatever the chunks. Memory: the search keeps
        at most ``2 beam_size + 1`` prefixes it works with, and the tokens of its hypotheses
        (64 bytes each); not the emissions. RuntimeError if the stream was not begun or has
        ended; an error inside a custom language model ends the stream too.
        """
        stream = self._open_stream("decode_step")
        if stream.ended:
            raise RuntimeError("CTCDecoder.decode_step: the stream has ended (decode_end was "
                               "called); call decode_begin() to start another")
        stream.step(emissions)

    def decode_end(self) -> None:
        """End the stream (torchaudio's name): its last word is closed and ``</s>`` scored;
        :meth:`get_final_hypothesis` then gives the result. Warns if no labelling has a
        non-zero probability, as the offline call does."""
        stream = self._open_stream("decode_end")
        if not stream.ended and not stream.end(self.nbest):
            self._warn_none("")

    def get_final_hypothesis(self) -> list[CTCHypothesis]:
        """The stream's hypotheses after :meth:`decode_end` (torchaudio's name): up to
        ``nbest``, best first, exactly those of the offline call on all of its frames."""
        stream = self._open_stream("get_final_hypothesis")
        if not stream.ended:
            raise RuntimeError("CTCDecoder.get_final_hypothesis: call decode_end() first (it "
                               "closes the last word and scores the end of the sentence)")
        return [self._hypothesis(*found) for found in stream.final]

    def get_best_hypothesis(self) -> CTCHypothesis:
        """The best hypothesis of the stream so far, for live captions (flashlight's name;
        torchaudio has none).

        Any time after :meth:`decode_begin`: the first of the beam as the search ranks it,
        whose ``score`` counts the unfinished last word's running score (its hotword share
        or unknown-word penalty) but no end-of-sentence terms, and whose ``words`` include
        that unfinished word if no lexicon is used. Later frames can still change it: the
        beam may switch to another hypothesis. The stream goes on unchanged. Score -inf and
        no tokens if no labelling has a non-zero probability."""
        return self._hypothesis(*self._open_stream("get_best_hypothesis").best())

    def _open_stream(self, method: str) -> DecodeStream:
        stream = self._stream
        if stream is None or stream.broken:
            why = "was not begun" if stream is None else "stopped on an error"
            raise RuntimeError(f"CTCDecoder.{method}: the stream {why}; call decode_begin() "
                               f"first")
        return stream

    def _stream_sizes(self) -> dict[str, int]:
        """What the current stream holds (see DecodeStream.sizes)."""
        return self._open_stream("_stream_sizes").sizes()

    def __getstate__(self) -> dict[str, Any]:
        # a stream is the kernel's memory: pickled decoders start without one
        return {**self.__dict__, "_stream": None}

    def _check_classes(self, emissions: Any) -> None:
        """One class per token, checked first: with another count the other errors mislead."""
        if not isinstance(emissions, Tensor):
            return  # the search raises the clear TypeError
        lp = emissions.numpy()
        if lp.ndim and lp.shape[-1] != len(self.tokens):
            raise ValueError(f"{_FN}: emissions must have C = {len(self.tokens)} classes, one "
                             f"per token, got shape {lp.shape}")

    def _adjust(self, lp: np.ndarray, by_class: bool = True) -> np.ndarray:
        """Blank penalty, label priors and (``by_class``) the beam_size_token pruning applied
        to a copy (the caller's tensor is kept), after the search has checked the caller's
        values (they, not these, should be normalised). Any (..., C) array."""
        prune = by_class and self.beam_size_token is not None and \
            self.beam_size_token < lp.shape[-1]
        if self.blank_penalty == 0 and self._log_priors is None and not prune:
            return lp
        lp = lp.astype(lp.dtype, copy=True)
        if self._log_priors is not None:
            lp -= self._log_priors.astype(lp.dtype)
        lp[..., self.blank] -= self.blank_penalty
        if prune:  # all but each frame's beam_size_token best classes become impossible
            order = np.argsort(-lp, axis=-1, kind="stable")  # ties: the lower index first
            np.put_along_axis(lp, order[..., self.beam_size_token:], -np.inf, axis=-1)
        return lp

    def idxs_to_tokens(self, idxs: Tensor | Iterable[int]) -> list[str]:
        """The token strings of class indices, e.g. a hypothesis' ``tokens`` (torchaudio's
        name)."""
        return [self.tokens[i] for i in _index_list(idxs)]

    def words(self, idxs: Iterable[int]) -> list[str]:
        """The words spelled by class indices: their text split at the word delimiter, and
        before each token that starts a word (a sentencepiece piece beginning with
        ``word_marker``, which is not part of the word).

        With a lexicon, each piece is the lexicon's word of that spelling (so a word is
        returned as written in the lexicon, not as spelled); a piece that spells no word of
        the lexicon, such as the unfinished last word of a hypothesis, is left out."""
        return self._word_pieces(np.array(_index_list(idxs), dtype=np.int64))[0]

    def _word_pieces(self, idxs: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
        """The words of :meth:`words` in class indices ``idxs`` (int64), and the positions in
        ``idxs`` of the first and last token of each: a word's tokens are the run between
        them, with no delimiter inside (one function for words and their spans, so that they
        cannot disagree). Per word, not per token, in Python."""
        starts = self._word_start
        found: tuple[list[str], np.ndarray, np.ndarray] = ([], idxs[:0], idxs[:0])
        if (self.sil is None and starts is None) or not len(idxs):
            return found
        sil = idxs == self.sil  # all False without a delimiter
        # a word begins after each delimiter and at each token that starts one
        begins = np.empty(len(idxs), dtype=bool)
        begins[0] = True
        begins[1:] = sil[:-1]
        if starts is not None:
            begins |= starts[idxs].astype(bool) & ~sil
        kept = np.flatnonzero(~sil)  # the positions of the words' tokens
        if not len(kept):
            return found
        first = np.flatnonzero(begins[kept])  # in kept; begins[kept[0]] always holds
        last = np.append(first[1:], len(kept))  # one past, in kept
        ids = idxs[kept]
        pieces, lengths = self._texts
        text = "".join(pieces[ids].tolist())  # the words' texts, cut at these offsets
        at = np.zeros(len(ids) + 1, dtype=np.int64)
        np.cumsum(lengths[ids], out=at[1:])
        if self._word_of is None:  # a word is its text; an empty one is none
            chosen = np.flatnonzero(at[last] > at[first])
            words = [text[a:b] for a, b in zip(at[first[chosen]].tolist(),
                                               at[last[chosen]].tolist())]
            return words, kept[first[chosen]], kept[last[chosen] - 1]
        words, chosen = [], []
        id_list = ids.tolist() if starts is None else None
        for g, (a, b, i, j) in enumerate(zip(at[first].tolist(), at[last].tolist(),
                                             first.tolist(), last.tolist())):
            # with sentencepiece pieces a word is known by its text, else by its tokens
            word = self._word_of.get(text[a:b] if id_list is None else tuple(id_list[i:j]))
            if word is not None:
                words.append(word)
                chosen.append(g)
        return words, kept[first[chosen]], kept[last[chosen] - 1]

    def _words_and_spans(self, hyp: CTCHypothesis, token_logps: np.ndarray
                         ) -> tuple[list[str], list[WordSpan]]:
        """The words of a hypothesis and their WordSpans, from the log-probability of each of
        its tokens at its timestep (as the search recorded them from the caller's values)."""
        words, first, last = self._word_pieces(hyp.tokens.numpy())
        if not words:
            return [], []
        # the least sure token of each word: a word is the run first .. last
        bounds = np.stack([first, last + 1], axis=1).ravel()
        worst = np.minimum.reduceat(np.append(token_logps, 0.0), bounds)[::2].tolist()
        timesteps = hyp.timesteps.numpy()
        return words, [WordSpan(word, start, end, math.exp(w)) for word, start, end, w in
                       zip(words, timesteps[first].tolist(), (timesteps[last] + 1).tolist(),
                           worst)]

    def text(self, idxs: Tensor | Iterable[int]) -> str:
        """The words of :meth:`words` joined by single spaces."""
        return " ".join(self.words(idxs))


def ctc_decoder(
    lexicon: str | os.PathLike | Mapping[str, Sequence[str]] | Iterable[str] | None,
    tokens: Sequence[str] | str | os.PathLike,
    lm: NGramLM | str | os.PathLike | CTCDecoderLM | Any | None = None,
    lm_dict: str | os.PathLike | Sequence[str] | None = None,
    nbest: int = 1,
    beam_size: int = 50,
    beam_size_token: int | None = None,
    beam_threshold: float | None = 50.0,
    lm_weight: float = 2.0,
    word_score: float = 0.0,
    unk_score: float = -math.inf,
    sil_score: float = 0.0,
    log_add: bool = False,
    blank_token: str = "-",
    sil_token: str | None = "|",
    unk_word: str = "<unk>",
    *,
    lm_level: str = "word",
    token_min_logp: float | None = None,
    unk_word_score: float = -10.0,
    hotwords: Iterable[str] | Mapping[str, float] | None = None,
    hotword_weight: float = 10.0,
    blank_penalty: float = 0.0,
    label_priors: Any = None,
    prior_weight: float = 1.0,
    word_marker: str | None = "\u2581",
) -> CTCDecoder:
    """Build a CTC beam-search decoder with an n-gram LM, lexicon, hotwords and priors.

    torchaudio's ``ctc_decoder``: the same arguments in the same order, with the same
    defaults, and a decoder called the same way (``decoder(emissions, lengths)``, batch
    first). Beyond it, as keywords: pyctcdecode's lexicon-free word LM with an unknown-word
    penalty, hotwords, a blank penalty and label priors. Where the results differ on purpose
    (lucid sums the paths of a labelling; the LM is read by :class:`NGramLM`), the Notes say.

    Parameters
    ----------
    lexicon : path, mapping, iterable of words, or None
        None: lexicon-free decoding. Otherwise only its words may be emitted (a word-level
        setup; needs ``sil_token`` or sentencepiece pieces, see ``word_marker``), and
        ``words`` holds them as the lexicon writes them,
        whatever their spelling. A path: a lexicon file in torchaudio's format, one
        ``word t o k e n s |`` per line (several lines may spell one word). A mapping: word ->
        sequence of tokens. In both, a spelling's trailing ``sil_token`` is dropped. An
        iterable of words: each spelled one character per token. A spelling with a token not
        in ``tokens``, the blank, or ``sil_token`` inside raises ValueError naming the word
        (and the file's line). Words spelled the same share one path of the search, and one
        of them stands for the spelling: the one with the highest LM score on its own (its
        unigram probability, without context, times ``lm_weight``) plus hotword boost, the
        first listed on a tie. With sentencepiece pieces a word is known by its text: it may
        be spelled by any pieces that write it.
    tokens : sequence of str, or path to a file with one token per line
        The string of each class, in class order; must include ``blank_token`` and, for
        word-level decoding, ``sil_token``.
    lm : NGramLM, path to an ARPA file (plain or compressed), CTCDecoderLM, kenlm.Model, or None
        The language model. An :class:`NGramLM` (or a path, read by it) is the fast path:
        the search reads its tables. A model written in Python, any object with the methods
        of :class:`CTCDecoderLM` (``start``, ``score``, ``finish``), is called back for each
        word, as in torchaudio. A ``kenlm.Model`` is used through such a wrapper, which
        also reads KenLM's binary files. None: no LM.
    lm_dict : path, sequence of str, or None
        The words of a model written in Python (or a ``kenlm.Model``), in the order of the
        indices it is called with: a file with one word per line, as in torchaudio, or a
        list. Default: the lexicon's words in the order listed, and ``unk_word`` last if
        not among them; without a lexicon, a word-level Python model needs ``lm_dict``. An
        n-gram LM knows its own words: only None is accepted with one.
    nbest : int, default 1
        Hypotheses returned per sample.
    beam_size : int, default 50
        Prefixes kept after each frame.
    beam_size_token : int or None, default None
        Classes considered at each frame: the frame's ``beam_size_token`` most likely ones
        (ties to the lower index); None: all.
    beam_threshold : float >= 0 or None, default 50
        Drop prefixes scoring more than this below the frame's best; None keeps all
        ``beam_size``.
    lm_weight : float, default 2
        Weight of the LM's log10 probability, as in torchaudio (whose KenLM scores are
        log10). pyctcdecode's ``alpha`` weighs natural logs: ``lm_weight = alpha * ln 10``.
    word_score : float, default 0
        Added per word (per token with ``lm_level="char"``): the word insertion bonus.
    unk_score : float, default -inf
        With a lexicon, torchaudio's score of a word outside it. lucid's lexicon search emits
        lexicon words only, so only ``-inf`` is accepted; for unknown words, decode without a
        lexicon (see ``unk_word_score``). Without a lexicon it is not used, as in torchaudio.
    sil_score : float, default 0
        Added each time ``sil_token`` is emitted (per token of the labelling, not per frame),
        as in torchaudio: negative values make word breaks rarer.
    log_add : bool, default False
        torchaudio's choice between the best path (False) and the sum of paths (True) as a
        hypothesis' acoustic score. lucid always sums (the labelling's probability, what
        ``ctc_loss`` trains), so both give the same search.
    blank_token : str, default "-"
        The blank's token string.
    sil_token : str or None, default "|"
        The word delimiter (``" "`` for pyctcdecode-style alphabets). None: no words.
    unk_word : str, default "<unk>"
        The LM's unknown word, which scores words it lacks. Must be ``"<unk>"``, the ARPA
        files' name for it, with an n-gram LM; a Python model is called with its index for
        a word it does not list.
    lm_level : {"word", "char"}, default "word"
        "word": the LM scores the words between ``sil_token`` (pyctcdecode's lexicon-free
        setup); "char": it scores every token, its vocabulary being the token strings
        (torchaudio's lexicon-free setup, with a token-level LM).
    token_min_logp : float <= 0 or None, default None
        At each frame, skip classes below this log-probability, except the most likely
        (pyctcdecode's pruning; see :func:`~lucid.ctc.beam_search_decode`).
    unk_word_score : float, default -10.0
        Without a lexicon: added per word that is not in the LM's vocabulary (or a token not
        in a char LM's), and to the running score of a word being spelled as soon as no known
        word starts that way (pyctcdecode's ``unk_score_offset``). Ignored without an LM;
        with a character LM written in Python every token is one of its words.
        With a lexicon only its words are spelled, and one the LM lacks is scored as
        ``<unk>`` by the LM, without this penalty (as in torchaudio).
    hotwords : str, iterable of words, mapping word -> boost, or None
        Words to favour: each occurrence adds its boost (``hotword_weight`` for an iterable)
        to the score, and a word being spelled gets the boost in proportion to the part of
        the shortest hotword it has spelled. Multi-word entries boost each of their words;
        a str is one entry (not one hotword per character). Boosts must be finite numbers.
        Needs a word-level setup. With a lexicon, every hotword must be in it.
    hotword_weight : float, default 10.0
        The boost of hotwords given as a str or an iterable.
    blank_penalty : float, default 0.0
        Subtracted from the blank's log-probability at every frame; positive values favour
        emitting tokens (longer outputs), negative values fewer tokens.
    label_priors : array-like of C probabilities, or None
        Prior probability of each class (e.g. its average posterior over training data).
        Each frame's log-probabilities get ``prior_weight * log(prior)`` subtracted, so
        classes the model predicts often are discounted and rare ones boosted.
    prior_weight : float, default 1.0
        The exponent of the priors.
    word_marker : str or None, default "▁"
        Sentencepiece / BPE vocabularies: a token beginning with this string (U+2581, what
        sentencepiece writes for a space) starts a new word, closing the word before as
        ``sil_token`` would; the marker is not part of the word. Such vocabularies usually
        have no delimiter: pass ``sil_token=None``. Words (LM words, the lexicon's, hotwords)
        are then matched by their characters, so any pieces that write a word spell it.
        No effect if no token begins with it; None: no token starts a word by its spelling.

    Returns
    -------
    CTCDecoder

    Notes
    -----
    Differences from torchaudio's decoder (flashlight's), on purpose: the acoustic score of a
    hypothesis is the log of the summed probability of its paths (``log_add=True``), exact
    when nothing is pruned; a lexicon-free decoder scores words with a word LM unless
    ``lm_level="char"``; the emissions should be log-probabilities (raw scores draw a
    :class:`lucid.LogProbsWarning`); a (T, C) emission decodes one sample and returns one
    list.

    Examples
    --------
    >>> import numpy as np
    >>> import lucid
    >>> from lucid.ctc import ctc_decoder
    >>> tokens = ["-", "|", "a", "b"]
    >>> frames = [2, 0, 1, 3, 3, 0, 2]  # spells "a|bb-a": the words "a", "ba"
    >>> emissions = lucid.tensor(np.log(0.9 * np.eye(4)[frames] + 0.025))[None]  # (1, 7, 4)
    >>> decoder = ctc_decoder(lexicon=None, tokens=tokens, beam_size=8)
    >>> (hyp,), = decoder(emissions)
    >>> hyp.tokens.tolist(), hyp.words, hyp.timesteps.tolist()
    ([2, 1, 3, 2], ['a', 'ba'], [0, 2, 3, 6])
    >>> decoder.idxs_to_tokens(hyp.tokens)
    ['a', '|', 'b', 'a']
    >>> hyp.word_spans  # frames [start, end) and the lowest posterior of the word's tokens
    [WordSpan(word='a', start=0, end=1, confidence=0.925),
     WordSpan(word='ba', start=3, end=7, confidence=0.925)]
    >>> lexicon_decoder = ctc_decoder(["a", "b", "ab"], tokens, beam_size=8)
    >>> lexicon_decoder(emissions)[0][0].words  # "ba" is not a word of the lexicon
    ['a', 'b', 'a']
    """
    fn = "ctc_decoder"
    tokens = _read_tokens(tokens, fn)
    index = {t: i for i, t in enumerate(tokens)}
    if len(index) != len(tokens):
        raise ValueError(f"{fn}: tokens must be distinct, got {tokens}")
    if blank_token not in index:
        raise ValueError(f"{fn}: blank_token {blank_token!r} is not one of the tokens {tokens}")
    blank = index[blank_token]
    sil = None
    if sil_token is not None:
        if sil_token not in index:
            raise ValueError(f"{fn}: sil_token {sil_token!r} is not one of the tokens {tokens}; "
                             f"pass sil_token=None for no word delimiter")
        sil = index[sil_token]
    beam_size = check_positive_int(beam_size, "beam_size", fn)
    nbest = check_positive_int(nbest, "nbest", fn)
    if nbest > beam_size:
        raise ValueError(f"{fn}: nbest must be at most beam_size = {beam_size}, got {nbest}")
    check_threshold(token_min_logp, "token_min_logp", fn, -1)
    check_threshold(beam_threshold, "beam_threshold", fn, +1)
    if beam_size_token is not None:
        beam_size_token = check_positive_int(beam_size_token, "beam_size_token", fn)
    _check_torchaudio_only(unk_score, log_add, fn)
    if lm_level not in ("word", "char"):
        raise ValueError(f"{fn}: lm_level must be 'word' or 'char', got {lm_level!r}")
    for name, value in (("lm_weight", lm_weight), ("word_score", word_score),
                        ("unk_word_score", unk_word_score), ("hotword_weight", hotword_weight),
                        ("blank_penalty", blank_penalty), ("prior_weight", prior_weight),
                        ("sil_score", sil_score)):
        _check_finite(value, name, fn)
    if word_marker is not None and (not isinstance(word_marker, str) or not word_marker):
        raise TypeError(f"{fn}: word_marker must be a non-empty str or None, got "
                        f"{show_value(word_marker)}")
    word_start = _word_starts(tokens, blank, sil, word_marker)
    lm, py_lm = _language_model(lm, lm_dict, unk_word, fn)
    lm_scale = float(lm_weight) / math.log(10)  # per natural-log unit, as the search counts

    hot = _hotword_boosts(hotwords, hotword_weight, fn)
    if (lexicon is not None or hot) and sil is None and word_start is None:
        raise ValueError(f"{fn}: a lexicon or hotwords need a word delimiter (sil_token) or "
                         f"tokens that start words (word_marker)")
    words = None
    if lexicon is not None:
        words = _lexicon_words(lexicon, index, blank, sil, fn, by_text=word_start is not None)
    has_lm = lm is not None or py_lm is not None
    word_level = lm_level == "word" and (has_lm or words is not None or hot)
    if lm_level == "char" and (words is not None or hot):
        raise ValueError(f"{fn}: lexicon and hotwords need lm_level='word'")

    def piece_text(i: int) -> str:  # token i's part of a word's text
        return tokens[i][len(word_marker):] if word_start is not None and word_start[i] \
            else tokens[i]

    # the LM's words: an n-gram model knows its own; a Python one is told them
    word_index: dict[str, int] = {}
    unk = -1
    if lm is not None:
        word_index = lm.word_index
    elif py_lm is not None:
        if lm_level == "char":  # torchaudio's lexicon-free setup: each token is a word
            lm_words = list(tokens)
        else:
            lm_words = _python_lm_words(lm_dict, words, unk_word, fn)
            word_index = {w: i for i, w in enumerate(lm_words)}
            unk = word_index[unk_word]
        if is_kenlm_model(py_lm):
            py_lm = KenLMModel(py_lm, lm_words)

    def alone(word: str) -> float:  # the LM's say on a word without context, weighted
        if lm is not None:
            return lm_scale * lm.log_prob([word], bos=False, eos=False)
        if py_lm is not None:
            return float(lm_weight) * alone_score(py_lm, word_index.get(word, unk))
        return 0.0

    scoring: dict[str, Any] = {"mode": 0}
    word_of = None
    if lm_level == "char" and has_lm:
        token_word = lm.word_ids(tokens) if lm is not None else np.arange(len(tokens))
        scoring = {"mode": 1, "token_word": token_word.astype(np.int64)}
    elif word_level:
        if words is None:  # lexicon-free: the LM's words and the hotwords make the trie
            # (a hotword the LM knows is listed once: the same spelling twice adds nothing)
            spelled = _spell_words(list(dict.fromkeys([*word_index, *hot])), index,
                                   {blank, sil}, by_char=word_start is not None)
        else:
            missing = [w for w in hot if w not in words]
            if missing:
                raise ValueError(f"{fn}: hotwords must be words of the lexicon, but "
                                 f"{missing[:5]} are not")
            keys = _lexicon_keys(words, word_start, piece_text, fn)
            word_of = _pick_homophones(keys, lambda w: alone(w) + hot.get(w, 0.0))
            spellings: dict[str, list[list[int]]] = {}
            for key, word in word_of.items():  # sentencepiece: a word is known by its text
                spellings.setdefault(word, []).append(
                    [ord(ch) for ch in key] if word_start is not None else list(key))
            spelled = _flatten(spellings)
        scoring = {"mode": 2, "lexicon_only": words is not None,
                   **_word_trie(*spelled, word_index, hot),
                   **_token_symbols(tokens, word_start, piece_text)}
    if lm is not None:
        scoring["lm"] = lm.tables
    elif py_lm is not None and scoring["mode"]:
        scoring.update(py_lm=py_lm, py_unk=unk)
    has_vocab = has_lm or words is not None
    scoring.update(delimiter=sil, sil_score=float(sil_score),
                   lm_weight=lm_scale if py_lm is None else float(lm_weight),
                   word_score=float(word_score),
                   unk_score=float(unk_word_score) if has_vocab else 0.0)

    log_priors = None
    if label_priors is not None:
        priors = np.asarray(label_priors, dtype=np.float64)
        if priors.shape != (len(tokens),):
            raise ValueError(f"{fn}: label_priors must have shape ({len(tokens)},), one per "
                             f"token, got {priors.shape}")
        if not (np.isfinite(priors).all() and (priors > 0).all()):
            raise ValueError(f"{fn}: label_priors must be positive and finite")
        log_priors = prior_weight * np.log(priors)
    return CTCDecoder(tokens, blank, sil, scoring, beam_size, nbest, beam_threshold,
                      token_min_logp, float(blank_penalty), log_priors, word_of,
                      beam_size_token, word_start, word_marker)


def _check_torchaudio_only(unk_score: Any, log_add: Any, fn: str) -> None:
    """torchaudio's arguments that lucid's search has no use for take only the values that
    mean what lucid does; another value is an error, not a silently different decoder."""
    if unk_score != -math.inf:
        raise ValueError(f"{fn}: unk_score must be -inf: a lexicon decoder emits only lexicon "
                         f"words (decode without a lexicon for others, scored by "
                         f"unk_word_score); got {show_value(unk_score)}")
    if not isinstance(log_add, (bool, np.bool_)):
        raise TypeError(f"{fn}: log_add must be a bool, got {show_value(log_add)}")


def _language_model(lm: Any, lm_dict: Any, unk_word: Any, fn: str) -> tuple[NGramLM | None, Any]:
    """The n-gram model (read from a path if one is given), or the model written in Python
    (a kenlm.Model is one: it is wrapped once its words are known)."""
    if lm is None or isinstance(lm, NGramLM):
        ngram = lm
    elif isinstance(lm, (str, os.PathLike)):
        ngram = NGramLM(lm)
    elif is_kenlm_model(lm) or is_python_lm(lm):
        if not isinstance(unk_word, str) or not unk_word:
            raise TypeError(f"{fn}: unk_word must be a non-empty str, got {show_value(unk_word)}")
        return None, lm
    else:
        raise TypeError(f"{fn}: lm must be an NGramLM, a path to an ARPA file, a kenlm.Model, "
                        f"an object with start, score and finish methods (a CTCDecoderLM), or "
                        f"None, got {show_value(lm)}")
    if lm_dict is not None:
        raise ValueError(f"{fn}: lm_dict must be None with an n-gram LM, which knows its own "
                         f"words (lm_dict lists a custom LM's); got {show_value(lm_dict)}")
    if unk_word != "<unk>":
        raise ValueError(f"{fn}: unk_word must be '<unk>' with an n-gram LM, the ARPA name of "
                         f"the unknown word, got {show_value(unk_word)}")
    return ngram, None


def _python_lm_words(lm_dict: Any, lexicon_words: Mapping[str, Any] | None, unk_word: str,
                     fn: str) -> list[str]:
    """The words of a Python LM, in index order: lm_dict's, or the lexicon's in the order
    listed (as torchaudio makes them without lm_dict), with unk_word last if missing."""
    if lm_dict is not None:
        words = read_lm_dict(lm_dict, fn)
    elif lexicon_words is not None:
        words = list(lexicon_words)
    else:
        raise ValueError(f"{fn}: a language model written in Python needs its words: pass "
                         f"lm_dict (one word per line, in the model's index order) or a lexicon")
    return words if unk_word in words else words + [unk_word]


def _word_starts(tokens: list[str], blank: int, sil: int | None,
                 marker: str | None) -> np.ndarray | None:
    """Per token, whether it starts a word: it begins with the marker (and is not the blank or
    the delimiter); None if no token does."""
    if marker is None:
        return None
    starts = np.array([i != blank and i != sil and t.startswith(marker)
                       for i, t in enumerate(tokens)], dtype=np.uint8)
    return starts if starts.any() else None


def _token_symbols(tokens: list[str], word_start: np.ndarray | None,
                   piece_text: Any) -> dict[str, np.ndarray]:
    """What the word trie is walked by (design note C. of lucid/_C/_ctc_beam.pyx): each token
    itself, or with sentencepiece pieces the characters of each, so that any pieces spelling
    a word reach it."""
    if word_start is None:
        return {}  # each token its own symbol
    chars = [[ord(ch) for ch in piece_text(i)] for i in range(len(tokens))]
    return {"sym_start": np.concatenate([[0], np.cumsum([len(c) for c in chars])]).astype(np.int64),
            "syms": np.array([x for c in chars for x in c], dtype=np.int64),
            "word_start": word_start}


def _lexicon_keys(words: Mapping[str, list[Any]], word_start: np.ndarray | None,
                  piece_text: Any, fn: str) -> dict[str, list[Any]]:
    """word -> the keys of its spellings: the tuple of its tokens, or with sentencepiece pieces
    its text (a piece inside that starts a word would end it there: ValueError)."""
    if word_start is None:
        return {word: [tuple(s) for s in spelled] for word, spelled in words.items()}
    keys: dict[str, list[Any]] = {}
    for word, spelled_all in words.items():
        for spelled in spelled_all:
            if isinstance(spelled, str):  # a bare word: its own text
                inside, text = [], spelled
            else:
                inside = [i for i in spelled[1:] if word_start[i]]
                text = "".join(piece_text(i) for i in spelled)
            if inside or not text:
                why = (f"a piece that starts a word inside ({piece_text(inside[0])!r} ...)"
                       if inside else "no characters")
                raise ValueError(f"{fn}: lexicon word {word!r} is spelled with {why}")
            if text not in keys.setdefault(word, []):
                keys[word].append(text)
    return keys


def _index_list(idxs: Any) -> list[int]:
    """Class indices as a list of ints, from a Tensor (a hypothesis' tokens) or ints."""
    return idxs.tolist() if isinstance(idxs, Tensor) else [int(i) for i in idxs]


def _check_finite(value: Any, name: str, fn: str) -> None:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{fn}: {name} must be a finite number, got {show_value(value)}")
    if not math.isfinite(value):
        raise ValueError(f"{fn}: {name} must be a finite number, got {value}")


def _read_tokens(tokens: Any, fn: str) -> list[str]:
    if isinstance(tokens, (str, os.PathLike)):
        with open(tokens, encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f if line.rstrip("\n")]
    tokens = list(tokens)
    if not tokens or not all(isinstance(t, str) for t in tokens):
        raise TypeError(f"{fn}: tokens must be a non-empty sequence of str or a file path")
    return tokens


def _spell_words(words: list[str], index: Mapping[str, int], excluded: set[int | None],
                 by_char: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """The words that can be spelled, their symbols end to end and their lengths: with
    by_char (sentencepiece pieces) every non-empty word, by its characters' code points;
    otherwise those whose every character is a token, not an excluded one (blank,
    delimiter), by those tokens. With numpy over all the words' text at once."""
    lengths = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
    codes = np.frombuffer("".join(words).encode("utf-32-le", "surrogatepass"),
                          dtype=np.uint32).astype(np.int64)
    if by_char:
        symbols = codes
    else:  # each character's token, -1 if none (or one that cannot be inside a word)
        chars = sorted((ord(t), i) for t, i in index.items() if len(t) == 1)
        points = np.array([c for c, _ in chars] or [-1], dtype=np.int64)
        ids = np.array([-1 if i in excluded else i for _, i in chars] or [-1], dtype=np.int64)
        at = np.minimum(np.searchsorted(points, codes), len(points) - 1)
        symbols = np.where(points[at] == codes, ids[at], -1)
    ends = np.cumsum(lengths)
    bad = np.concatenate([[0], np.cumsum(symbols < 0)])
    ok = (lengths > 0) & (bad[ends] == bad[ends - lengths])
    return ([words[k] for k in np.flatnonzero(ok).tolist()], symbols[np.repeat(ok, lengths)],
            lengths[ok])


def _flatten(spellings: Mapping[str, list[list[int]]]) -> tuple[list[str], np.ndarray,
                                                                 np.ndarray]:
    """word -> its spellings, as _spell_words gives them: the word of each spelling, in
    order, their symbols end to end and their lengths."""
    spelled = [(word, sp) for word, spelled_all in spellings.items() for sp in spelled_all]
    lengths = np.array([len(sp) for _, sp in spelled], dtype=np.int64)
    symbols = np.fromiter(itertools.chain.from_iterable(sp for _, sp in spelled),
                          dtype=np.int64, count=int(lengths.sum()))
    return [word for word, _ in spelled], symbols, lengths


def _lexicon_words(lexicon: Any, index: Mapping[str, int], blank: int, sil: int | None,
                   fn: str, by_text: bool = False) -> dict[str, list[Any]]:
    """word -> its spellings (lists of class indices), from any of the accepted forms; with
    by_text (sentencepiece pieces) a bare word is its own spelling, as a str."""
    words: dict[str, list[list[int]]] = {}
    tokens = list(index)

    def add(word: Any, spelling: list[Any], where: str, given: bool) -> None:
        if not isinstance(word, str) or not all(isinstance(t, str) for t in spelling):
            raise TypeError(f"{fn}: lexicon {where}entries must be a word (str) and its tokens "
                            f"(str), got {show_value(word)}: {show_value(spelling)}")
        # torchaudio's lexicon files end every spelling with the delimiter; here the
        # delimiter itself closes a word, so a given spelling's trailing one is dropped
        if given and spelling and sil is not None and spelling[-1] == tokens[sil]:
            spelling = spelling[:-1]
        unknown = [t for t in spelling if t not in index]
        ids = [index[t] for t in spelling if t in index]
        if unknown or not spelling:
            what = f"unknown token(s) {unknown}" if unknown else "no tokens"
            hint = f"; the tokens are {tokens}"
        elif blank in ids:
            what, hint = f"the blank {tokens[blank]!r}", ", which CTC never emits as a token"
        elif sil in ids:
            what = f"the word delimiter {tokens[sil]!r} inside"
            hint = ", which would end the word there"
        else:
            if ids not in words.setdefault(word, []):
                words[word].append(ids)
            return
        raise ValueError(f"{fn}: lexicon {where}word {word!r} is spelled with {what} "
                         f"{spelling}{hint}")

    if isinstance(lexicon, (str, os.PathLike)):
        path = os.fspath(lexicon)
        with open(path, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                parts = split_words(line)  # as flashlight: ASCII whitespace, like the LM's
                if parts:
                    add(parts[0], parts[1:], f"{path}:{lineno}: ", True)
    elif isinstance(lexicon, Mapping):
        for word, spelling in lexicon.items():
            add(word, list(spelling), "", True)
    else:
        for word in lexicon:
            if not isinstance(word, str):
                raise TypeError(f"{fn}: lexicon words must be str, got {show_value(word)}")
            if by_text:  # any pieces writing it spell it
                words.setdefault(word, [word])
            else:
                add(word, list(word), "", False)
    return words


def _pick_homophones(keys: Mapping[str, list[Any]], merit: Any) -> dict[Any, str]:
    """The word each spelling (key) stands for.

    The search follows one path per spelling and scores one word at its end, so words spelled
    the same (homophones) are decided here, once: the one rated best on its own by merit
    (the weighted LM score without context, its unigram probability, ``<unk>``'s for a word
    the LM lacks, plus its hotword boost), the first listed on a tie."""
    by_spelling: dict[Any, list[str]] = {}
    for word, spelled_all in keys.items():
        for key in spelled_all:
            by_spelling.setdefault(key, []).append(word)
    # max keeps the first of equals
    return {key: max(same, key=merit) if len(same) > 1 else same[0]
            for key, same in by_spelling.items()}


def _hotword_boosts(hotwords: Any, weight: float, fn: str) -> dict[str, float]:
    if hotwords is None:
        return {}
    if isinstance(hotwords, str):  # one hotword, not one per character
        hotwords = [hotwords]
    pairs = hotwords.items() if isinstance(hotwords, Mapping) else ((w, weight) for w in hotwords)
    boosts: dict[str, float] = {}
    for phrase, boost in pairs:
        if not isinstance(phrase, str):
            raise TypeError(f"{fn}: hotwords must be str, got {show_value(phrase)}")
        if isinstance(boost, (bool, np.bool_)) or not isinstance(boost, (int, float, np.number)):
            raise TypeError(f"{fn}: hotwords must map each word to a number, got {phrase!r}: "
                            f"{show_value(boost)}")
        if not math.isfinite(boost):
            raise ValueError(f"{fn}: hotwords must map each word to a finite boost, got "
                             f"{phrase!r}: {boost}")
        for word in split_words(phrase):  # a no-break space stays inside a word, as in the LM
            boosts[word] = float(boost)
    return boosts


def _word_trie(words: list[str], flat: np.ndarray, lengths: np.ndarray,
               word_index: Mapping[str, int], hot: Mapping[str, float]) -> dict[str, np.ndarray]:
    """The word trie of design note C. in lucid/_C/_ctc_beam.pyx, as flat arrays.

    Spellings are symbols (see _token_symbols), as _flatten gives them, inserted in order:
    the word of each, their symbols end to end, their lengths. Node 0 is the empty word, and
    nodes are numbered as inserting the spellings one by one makes them; a node's children
    are a contiguous, symbol-sorted run. Per node: the LM index of the word ending there (-1
    if the LM does not know it, -2 if no word ends there), that word's hotword boost, and the
    lookahead: the boost of the shortest hotword through the node, in proportion to the part
    of it spelled. With numpy, level by level: Python runs per word, never per symbol."""
    n, depth = len(words), int(lengths.max()) if len(words) else 0
    symbols = np.full((n, depth), -1, dtype=np.int64)  # one spelling a row, -1 past its end
    symbols[np.arange(depth) < lengths[:, None]] = flat
    # level by level, the distinct prefixes: (the prefix before, symbol) pairs
    node_of = np.zeros((n, depth), dtype=np.int64)  # per level's distinct prefix, then node
    made, parents, tokens = [], [], []  # per level: first spelling to reach it, parent, symbol
    above = np.zeros(n, dtype=np.int64)
    width = int(symbols.max()) + 2 if n else 1
    for level in range(depth):
        rows = np.flatnonzero(lengths > level)
        keys = above[rows] * width + symbols[rows, level]
        distinct, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
        node_of[rows, level] = inverse + sum(len(m) for m in made)
        made.append(rows[first])
        parents.append(distinct // width)
        tokens.append(distinct % width)
        above[rows] = inverse
    # a node is numbered when its first spelling is inserted, shorter prefixes first
    made_by = np.concatenate(made) if made else np.zeros(0, dtype=np.int64)
    level_of = np.repeat(np.arange(depth), [len(m) for m in made])
    order = np.lexsort((level_of, made_by))
    number = np.empty(len(order), dtype=np.int64)
    number[order] = np.arange(1, len(order) + 1)
    parent_of = np.concatenate([np.zeros(0, dtype=np.int64)] + [
        np.zeros(len(parents[0]), dtype=np.int64) if level == 0 else
        number[parents[level] + sum(len(m) for m in made[:level - 1])]
        for level in range(depth)]) if depth else np.zeros(0, dtype=np.int64)
    token_of = np.concatenate(tokens) if tokens else np.zeros(0, dtype=np.int64)
    node_of = np.where(symbols >= 0, number[np.minimum(node_of, len(number) - 1)], 0) \
        if len(number) else node_of
    n_nodes = len(number) + 1
    word_at = np.full(n_nodes, -2, dtype=np.int64)
    bonus = np.zeros(n_nodes, dtype=np.float64)
    ends = node_of[np.arange(n), lengths - 1] if n else np.zeros(0, dtype=np.int64)
    # words spelled the same: the last inserted is the node's
    nodes, last = np.unique(ends[::-1], return_index=True)
    last = n - 1 - last
    word_at[nodes] = np.array([word_index.get(words[k], -1) for k in last.tolist()],
                              dtype=np.int64)
    bonus[nodes] = np.array([hot.get(words[k], 0.0) for k in last.tolist()],
                            dtype=np.float64)
    lookahead = np.zeros(n_nodes, dtype=np.float64)
    shortest = np.full(n_nodes, np.inf)
    for k, (word, size) in enumerate(zip(words, lengths.tolist())):
        if word in hot:  # the shortest hotword through a node, the first of equals
            for position, node in enumerate(node_of[k, :size].tolist(), 1):
                if size < shortest[node]:
                    shortest[node] = size
                    lookahead[node] = hot[word] * position / size
    by_parent = np.lexsort((token_of, parent_of))
    start = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(parent_of, minlength=n_nodes), out=start[1:])
    return {
        "trie_start": start,
        "trie_token": token_of[by_parent],
        "trie_child": number[by_parent] if len(number) else token_of[:0],
        "trie_word": word_at,
        "trie_bonus": bonus,
        "trie_lookahead": lookahead,
    }
