"""CTC decoding, alignment and language models, with torchaudio's names.

The differentiable side of CTC (:func:`lucid.nn.functional.ctc_loss`) stays in
``lucid.nn.functional``; everything that reads a trained model's output lives here:

- :func:`greedy_decode` and :func:`beam_search_decode`: labellings without a language model;
- :func:`ctc_decoder` / :class:`CTCDecoder`: beam search with an n-gram LM (:class:`NGramLM`)
  or one written in Python (:class:`CTCDecoderLM`, :class:`CTCDecoderLMState`), a lexicon,
  hotwords and label priors, offline or streaming, returning :class:`CTCHypothesis` es with
  :class:`WordSpan` s;
- :func:`forced_align` and :func:`merge_tokens`: where each target token was said
  (:class:`TokenSpan`).
"""

from lucid.ctc.align import TokenSpan, forced_align, merge_tokens
from lucid.ctc.arpa import NGramLM
from lucid.ctc.beam import CTCHypothesis, WordSpan, beam_search_decode
from lucid.ctc.decoder import CTCDecoder, ctc_decoder
from lucid.ctc.greedy import greedy_decode
from lucid.ctc.lm import CTCDecoderLM, CTCDecoderLMState

__all__ = [
    "greedy_decode", "beam_search_decode", "ctc_decoder", "CTCDecoder", "NGramLM",
    "CTCDecoderLM", "CTCDecoderLMState",
    "CTCHypothesis", "WordSpan", "forced_align", "merge_tokens", "TokenSpan",
]
