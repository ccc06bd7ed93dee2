"""A back-off n-gram model written in plain Python behind torchaudio's CTCDecoderLM interface:
the independent reference for the decoder's native n-gram path and its Python-LM path."""

from lucid.ctc import CTCDecoderLM

# a word 3-gram and a char 2-gram over helpers.decoding.TOKENS, as write_arpa takes them
WORDS = [{("<s>",): (-99.0, -0.3), ("</s>",): (-0.9, None), ("<unk>",): (-2.0, None),
          ("ca",): (-0.8, -0.2), ("at",): (-0.6, -0.25), ("a",): (-0.7, -0.1),
          ("cat",): (-0.9, -0.1), ("pat",): (-1.1, -0.2), ("tap",): (-1.2, None)},
         {("<s>", "ca"): (-0.3, -0.1), ("ca", "at"): (-0.2, None), ("at", "</s>"): (-0.1, None),
          ("cat", "pat"): (-0.4, -0.2), ("<s>", "cat"): (-0.5, None)},
         {("<s>", "ca", "at"): (-0.05, None), ("cat", "pat", "</s>"): (-0.1, None)}]
CHARS = [{("<s>",): (-99.0, -0.2), ("</s>",): (-1.0, None), ("<unk>",): (-3.0, None),
          ("c",): (-0.5, -0.1), ("a",): (-0.6, -0.1), ("t",): (-0.7, -0.2), ("|",): (-0.9, None)},
         {("c", "a"): (-0.1, None), ("a", "t"): (-0.3, None), ("t", "</s>"): (-0.2, None)}]


class PythonNGram(CTCDecoderLM):
    """Katz back-off over the tables write_arpa takes (per order, {words: (log10 p, log10
    backoff or None)}); a state is the tuple of the last order - 1 words; scores in log10.

    ``words`` maps the decoder's word indices to words; a word the model does not list scores
    as ``<unk>``. ``calls`` counts score and finish calls."""

    def __init__(self, ngrams, words):
        self.order = len(ngrams)
        self.table = {key: (p, bo or 0.0) for order in ngrams for key, (p, bo) in order.items()}
        self.words = list(words)
        self.calls = 0

    def start(self, start_with_nothing):
        return () if start_with_nothing else ("<s>",)

    def log10(self, context, word):
        total = 0.0
        while context + (word,) not in self.table:
            total += self.table.get(context, (0.0, 0.0))[1]  # an unlisted context backs off free
            context = context[1:]
        return total + self.table[context + (word,)][0]

    def _next(self, state, word):
        word = word if (word,) in self.table else "<unk>"
        after = (state + (word,))[1 - self.order:] if self.order > 1 else ()
        return after, self.log10(state, word)

    def score(self, state, usr_token_idx):
        self.calls += 1
        return self._next(state, self.words[usr_token_idx])

    def finish(self, state):
        self.calls += 1
        return self._next(state, "</s>")
