"""CTC prefix beam search, optionally fused with a language model, frame by frame.

Design note
-----------
A. Algorithm. The prefix search of Graves (2008, sec. 7.5; Hannun et al. 2014, alg. 1), 0-based.
   Each hypothesis is a labelling prefix l with two log-probabilities after frame t:
   pb(l) of all paths collapsing to l that end in a blank, and pnb(l) of those ending in l's last
   label. With y^t_k the log-probability of class k at frame t and (+) the log-sum-exp:

       pb'(l)    = (pb(l) (+) pnb(l)) + y^t_blank                       (blank: l unchanged)
       pnb'(l)   = pnb(l) + y^t_{last(l)}                                (repeat: l unchanged)
       pnb'(l+c) (+)= (pb(l) if c == last(l) else pb(l) (+) pnb(l)) + y^t_c   (extend by c)

   An extension l+c that is itself in the beam adds into that hypothesis (the "merge", found
   from l+c's side: its parent is in the beam), so every path is counted exactly once: when
   nothing is pruned, pb (+) pnb after the last frame is the labelling's exact log-probability,
   -ctc_loss. Pruning keeps the beam_width best hypotheses per frame (and optionally drops
   hypotheses more than beam_threshold below the best, and classes below token_min_logp unless
   they are the frame's most likely, as pyctcdecode does).
B. Prefixes. Every token of a live prefix is a record (its token, the record before it, and
   when it was emitted, G.). A prefix the search works with is a node: the beam's hypotheses,
   the prefixes where two of them part (at most beam_width - 1), and the empty prefix (the
   root). A node holds its last record, its parent node (the nearest node above it), the
   records between the two (its "edge", the tokens of prefixes that are neither), its
   children, and the LM side (C.). So a hypothesis is one int64, l+c is found among l's
   children by the first token of their edges, and a prefix on an edge that comes back into
   the beam (only ever the first record of an edge: prefixes re-enter as extensions of the
   beam) is split off as a node of its own, keeping its record. After each frame, a node that
   left the beam is freed with its edge if no hypothesis extends it (should that prefix come
   back, it is new), or joins its only child's edge. So nodes never number more than 2 beam_width + 1 (3 beam_width + 1 while a frame's
   new ones are made, the size of their fixed array), and records no more than the distinct
   tokens of the hypotheses: the memory of a search does not grow with its length, only with
   the text it keeps. Candidates of a frame are plain structs; only those that survive pruning
   get a node.
C. Language model ("shallow fusion"). A node also carries what the LM says about its prefix:
   an LM state, the position of its unfinished word in a word trie, and `extra`, the sum of
   lm_weight x the LM's scores, word insertion bonuses, unknown-word penalties, hotword boosts
   and sil_score per word delimiter of the words completed so far. These depend on the prefix
   only, never on the path (so the LM side of a prefix split off an edge is worked out again,
   to the same values), pb/pnb stay purely acoustic, and hypotheses are ranked by
   pb (+) pnb + extra + lookahead, where lookahead is a function of the unfinished word (the
   unknown-word penalty once it has left the trie, or a hotword's boost in proportion to how
   much of it is spelled). Char-level LMs score every label; word-level LMs score a word when
   the delimiter, a token that starts a word (a sentencepiece "▁" piece), or the end of the
   input closes it. The trie is walked by symbols: each token is a run of symbols (itself,
   or its characters for sentencepiece vocabularies, so that any pieces spelling a word reach
   it). With a lexicon, extensions that leave its trie are dropped.
D. N-gram lookup. Every n-gram of order < N is a state; an open-addressing hash maps
   (state, word) to the n-gram's entry (ln-probability, the state after it). A miss adds the
   state's backoff weight and retries from its longest proper suffix state (Katz backoff, as in
   ARPA files); a word unknown at the root is <unk>. A language model written in Python
   (torchaudio's start / score / finish interface) is called instead, with the GIL, through
   LMBridge: its states are Python objects in a list, a node's LM state an index into it,
   and the list is rebuilt from the live nodes' states whenever it has grown past a bound.
E. Threading. Samples are independent: the batch is split over OpenMP threads, each with its
   own search state malloc'd inside the parallel region (one thread with a Python LM). The
   search is deterministic (ties go to the earlier candidate), so results do not depend on
   the thread count.
F. Sizes. A search state is 3 beam_width + 1 nodes, beam_width x C candidates,
   3 beam_width + C ints, 4 beam_width + 2 C doubles and the records (B.), in an array that
   grows by doubling. workspace_bytes computes it in Python integers, and one beyond
   sys.maxsize bytes (more than can be addressed) is refused before any malloc: a product
   that wrapped around would allocate too little and the search write past it. The record
   array's doubling is refused the same way, as a failed allocation. Class indices and frame
   numbers are kept in 32 bits: the caller keeps C and the frame count below 2**31.
G. Streaming. The state between frames is the Search struct: the beam, its pb/pnb, nodes,
   records and the frame count. Each frame reads one row of emissions (in place if float64 with
   contiguous classes, else copied to double); nothing else about past frames is kept. A token's
   timestep is the frame at which its prefix was most likely entered (the largest extension term
   above); a prefix can be entered again more strongly after its extensions were made, so each
   record also keeps the frame it was first entered and, for its parent, the parent's frame when
   it was itself entered best. The hypothesis is read back from the last token: a token whose
   frame is not before the next token's takes its parent snapshot from that next token if that
   is before it, else its first frame (always before: a prefix enters after its parent). Its
   log-probability at that frame (read from the caller's values) is kept next to each frame, for
   word confidences without the emissions. One search state with the same frames in any chunks
   does the same arithmetic, so streaming gives exactly the offline result; the offline call is
   this search run over every frame.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, exp, isnan, log1p
from libc.stdint cimport int32_t, int64_t, uint8_t, uint64_t
from libc.stdlib cimport free, malloc

from lucid._C._beam_prefixes cimport (FREE, Cand, Node, Rec, Search, hypothesis_length, make_node,
                                      parent_snapshot, read_hypothesis, release, search_alloc,
                                      search_begin, search_free)
from lucid._C._rows cimport floating

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX  # sys.maxsize: no object can be larger (F.)

cdef enum:
    MODE_NONE = 0
    MODE_CHAR = 1
    MODE_WORD = 2

cdef enum:
    FINAL = 0             # end of input: the last word closed, </s> added
    FINAL_UNFINISHED = 1  # the same, or if no hypothesis can end there, those inside a word
    PARTIAL = 2           # the beam as it stands, ranked as the search ranks it

cdef enum:
    FIRST_FRAMES = 64     # the record array starts with room for this many frames' new prefixes
    EOS_WORD = -3         # the word that makes a Python LM's finish() score </s>

# the ways a search can end, as the Python methods report them
SEARCH_FINAL = FINAL
SEARCH_FINAL_UNFINISHED = FINAL_UNFINISHED
SEARCH_PARTIAL = PARTIAL


cdef struct LM:
    # n-gram tables (D.)
    const int64_t* keys
    const int64_t* vals
    int64_t mask
    int64_t n_words
    const double* prob
    const int64_t* next_state
    const double* backoff
    const int64_t* backoff_state
    int64_t unk
    void* bridge          # a Python LM (an LMBridge) instead of the tables, or NULL
    int* failed           # the bridge's error flag
    # scoring (C.)
    int mode
    int has_lm
    double lm_weight
    double word_score
    double unk_score
    double sil_score
    int64_t delimiter
    const int64_t* token_word       # char mode: LM word of each class, -1 unknown
    const int64_t* sym_start        # word mode: token k is the symbols
    const int64_t* syms             #   syms[sym_start[k] .. sym_start[k+1]]
    const uint8_t* word_start       #   per token: it starts a word (NULL: none does)
    const int64_t* trie_start       #   children of trie node i are entries
    const int64_t* trie_token       #   trie_start[i] .. trie_start[i+1] (sorted by symbol)
    const int64_t* trie_child
    const int64_t* trie_word        #   LM word ending at node i; -1 <unk>; -2 none ends here
    const double* trie_bonus        #   hotword boost of the word ending at node i
    const double* trie_lookahead    #   hotword boost in proportion to the prefix spelled
    int lexicon_only
    int64_t bos_state
    int64_t eos
    double max_gain       # bound on what one token adds to extra + lookahead (inf: unknown)


# ------------------------------------------------------------------------- scores (C., D.)
cdef inline double log_add(double a, double b) noexcept nogil:
    """ln(e^a + e^b) without overflow; exact for -inf operands."""
    if a < b:
        a, b = b, a
    if b == -INFINITY:
        return a
    return a + log1p(exp(b - a))


cdef inline int64_t hash_find(const LM* lm, int64_t state, int64_t word) noexcept nogil:
    """The entry of n-gram (state, word), or -1."""
    cdef int64_t key = state * lm.n_words + word
    cdef uint64_t h = (<uint64_t> key) * 0x9E3779B97F4A7C15ULL
    cdef int64_t i = <int64_t> ((h >> 17) & <uint64_t> lm.mask)
    while lm.keys[i] != -1:
        if lm.keys[i] == key:
            return lm.vals[i]
        i = (i + 1) & lm.mask
    return -1


cdef inline double ngram_score(const LM* lm, int64_t state, int64_t word,
                               int64_t* out_state) noexcept nogil:
    """ln P(word | state) with Katz backoff (D.); the state after it in out_state."""
    cdef double acc = 0.0
    cdef int64_t e
    if word < 0:
        word = lm.unk
    while True:
        e = hash_find(lm, state, word)
        if e >= 0:
            out_state[0] = lm.next_state[e]
            return acc + lm.prob[e]
        if state == 0:  # not even a unigram: the word is unknown to the model
            if word == lm.unk:
                out_state[0] = 0
                return acc - INFINITY
            word = lm.unk
        else:
            acc += lm.backoff[state]
            state = lm.backoff_state[state]


cdef class LMBridge:
    """A language model written in Python, as the search calls it (D.): torchaudio's
    ``start(start_with_nothing) -> state``, ``score(state, word) -> (state, score)`` and
    ``finish(state) -> (state, score)``. The states live in a list; the search holds indices.
    An exception inside the LM is kept (the search then sees -inf) and raised by the caller
    once the search returns."""
    cdef object lm
    cdef list states
    cdef int64_t unk
    cdef int failed
    cdef public object error

    def __init__(self, lm, int64_t unk):
        self.lm = lm
        self.unk = unk
        self.states = []
        self.failed = 0
        self.error = None

    cdef int64_t begin(self) noexcept:
        """The state before the first word, as index 0."""
        self.states = [None]
        if not self.failed:
            try:
                self.states[0] = self.lm.start(False)
            except BaseException as exc:
                self.failed = 1
                self.error = exc
        return 0

    cdef double score(self, int64_t state, int64_t word, int64_t* out_state) noexcept:
        cdef double value
        out_state[0] = state
        if self.failed:
            return -INFINITY
        try:
            if word == EOS_WORD:
                result = self.lm.finish(self.states[state])
                what = "finish"
            else:
                result = self.lm.score(self.states[state], self.unk if word < 0 else word)
                what = "score"
            if not isinstance(result, tuple) or len(result) != 2:
                raise TypeError(f"the language model's {what}() must return a tuple "
                                f"(state, score), got {type(result).__name__} {result!r:.60}")
            value = float(result[1])
            if isnan(value) or value == INFINITY:
                raise ValueError(f"the language model's {what}() must return a score that is "
                                 f"a number or -inf, got {result[1]!r}")
            self.states.append(result[0])
            out_state[0] = len(self.states) - 1
            return value
        except BaseException as exc:
            self.failed = 1
            self.error = exc
            return -INFINITY

    cdef void compact(self, Search* s) noexcept:
        """Keep only the states of live nodes, renumbered (D.): the list then does not grow
        with the length of the input."""
        cdef int64_t i
        cdef dict renumbered = {}
        cdef list kept = []
        if len(self.states) <= 4 * s.node_cap + 64:
            return
        for i in range(s.node_cap):
            if s.nodes[i].slot != FREE:
                old = s.nodes[i].lm_state
                new = renumbered.get(old)
                if new is None:
                    new = renumbered[old] = len(kept)
                    kept.append(self.states[old])
                s.nodes[i].lm_state = new
        self.states = kept


cdef inline double lm_score(const LM* lm, int64_t state, int64_t word,
                            int64_t* out_state) noexcept nogil:
    """The LM's score of word after state, from the n-gram tables or the Python LM."""
    if lm.bridge == NULL:
        return ngram_score(lm, state, word, out_state)
    with gil:
        return (<LMBridge> lm.bridge).score(state, word, out_state)


cdef inline int64_t trie_next(const LM* lm, int64_t node, int64_t symbol) noexcept nogil:
    cdef int64_t i
    if node < 0:
        return -1
    for i in range(lm.trie_start[node], lm.trie_start[node + 1]):
        if lm.trie_token[i] == symbol:
            return lm.trie_child[i]
    return -1


cdef inline int64_t trie_walk(const LM* lm, int64_t node, int64_t token) noexcept nogil:
    """The trie node reached from node by the symbols of token (C.), -1 off the trie."""
    cdef int64_t k
    if lm.sym_start == NULL:  # each token is its own symbol
        return trie_next(lm, node, token)
    for k in range(lm.sym_start[token], lm.sym_start[token + 1]):
        node = trie_next(lm, node, lm.syms[k])
    return node


cdef inline bint close_word(const LM* lm, Cand* c) noexcept nogil:
    """Score the unfinished word of c (word mode) and reset it; False if a lexicon forbids it."""
    cdef int64_t word = -1
    cdef int64_t state
    if c.trie == 0:  # nothing spelled since the last delimiter
        return True
    if c.trie > 0:
        word = lm.trie_word[c.trie]
    if word == -2 or c.trie < 0:  # not a word of the trie
        if lm.lexicon_only:
            return False
        c.extra += lm.unk_score
        word = -1
    else:
        c.extra += lm.trie_bonus[c.trie]
    if lm.has_lm:
        c.extra += lm.lm_weight * lm_score(lm, c.lm_state, word, &state)
        c.lm_state = state
    c.extra += lm.word_score
    c.trie = 0
    c.lookahead = 0.0
    return True


cdef inline bint extend(const LM* lm, const Node* parent, int64_t token, Cand* c) noexcept nogil:
    """The LM side of prefix parent + token (C.), into c; False if a lexicon forbids it."""
    cdef int64_t state, word
    c.extra = parent.extra
    c.lm_state = parent.lm_state
    c.trie = parent.trie
    c.lookahead = parent.lookahead
    if token == lm.delimiter:
        c.extra += lm.sil_score
    if lm.mode == MODE_CHAR:
        word = lm.token_word[token]
        if word < 0:
            c.extra += lm.unk_score
        c.extra += lm.lm_weight * lm_score(lm, c.lm_state, word, &state) + lm.word_score
        c.lm_state = state
    elif lm.mode == MODE_WORD:
        if token == lm.delimiter:
            return close_word(lm, c)
        if lm.word_start != NULL and lm.word_start[token] and not close_word(lm, c):
            return False
        c.trie = trie_walk(lm, c.trie, token)
        if c.trie < 0:
            if lm.lexicon_only:
                return False
            c.lookahead = lm.unk_score
        else:
            c.lookahead = lm.trie_lookahead[c.trie]
    return True


# --------------------------------------------------------------------------- pruning (A.)
cdef inline bint better(const Cand* cands, int64_t a, int64_t b) noexcept nogil:
    """Candidate a ranks above b: higher score, ties to the earlier one."""
    return cands[a].score > cands[b].score or (cands[a].score == cands[b].score and a < b)


cdef void sift_down(int64_t* heap, int64_t size, int64_t i, const Cand* cands) noexcept nogil:
    """Restore the min-heap (worst candidate on top) below position i."""
    cdef int64_t child, tmp
    while True:
        child = 2 * i + 1
        if child >= size:
            return
        if child + 1 < size and better(cands, heap[child], heap[child + 1]):
            child += 1
        if not better(cands, heap[i], heap[child]):
            return
        tmp = heap[i]
        heap[i] = heap[child]
        heap[child] = tmp
        i = child


cdef int64_t select_best(Cand* cands, int64_t n, int64_t k, double threshold, int64_t* heap,
                         bint ordered) noexcept nogil:
    """Indices of the (up to) k best candidates into heap, returns how many; best first if
    ordered (the beam itself needs no order: sorting it every frame would cost more than
    the rest of the frame)."""
    cdef int64_t i, size = 0, tmp
    cdef double best = -INFINITY
    for i in range(n):
        if cands[i].score > best:
            best = cands[i].score
    if best == -INFINITY:
        return 0
    for i in range(n):
        if cands[i].score == -INFINITY or cands[i].score < best - threshold:
            continue
        if size < k:
            heap[size] = i
            size += 1
            if size == k:
                for tmp in range(k // 2 - 1, -1, -1):
                    sift_down(heap, size, tmp, cands)
        elif better(cands, i, heap[0]):
            heap[0] = i
            sift_down(heap, size, 0, cands)
    if not ordered:
        return size
    if size < k:
        for tmp in range(size // 2 - 1, -1, -1):
            sift_down(heap, size, tmp, cands)
    # heap sort: repeatedly move the worst to the end
    i = size
    while i > 1:
        tmp = heap[0]
        heap[0] = heap[i - 1]
        heap[i - 1] = tmp
        i -= 1
        sift_down(heap, i, 0, cands)
    return size


# ------------------------------------------------------------------ the search (A., G.)
cdef int search_frame(Search* s, const LM* lm) noexcept nogil:
    """One frame of the search (A.-C.) on s.y; -1 if the records could not grow."""
    cdef int64_t B = s.B, C = s.C, blank = s.blank, nb = s.nb, nc, i, j, c, u, child, last
    cdef int64_t k, n_new, r
    cdef int32_t t = <int32_t> s.t
    cdef const double* y = s.y
    cdef double* pb = s.pb
    cdef double* pnb = s.pnb
    cdef int64_t* beam = s.beam
    cdef Cand* cands = s.cands
    cdef Node* nodes = s.nodes
    cdef double y_blank, total, val, yc, floor, bound, best_total
    cdef int64_t n_live
    # the most one token can add to extra + lookahead (0 without an LM): bounds a candidate's
    # score before its LM side is worked out
    cdef double max_gain = lm.max_gain
    cdef Cand* cand
    cdef Cand snapshot  # the parent's frame and log-probability, for its extensions (G.)
    # pb (+) pnb of each prefix, once: in the next beam's half of pb, unused until selection
    cdef double* totals = pb + B

    s.t += 1
    if nb == 0:
        return 0
    # classes below token_min_logp are skipped, except the frame's most likely one
    floor = s.token_min_logp
    if floor > -INFINITY:
        yc = -INFINITY
        for c in range(C):
            if y[c] > yc:
                yc = y[c]
        if yc < floor:
            floor = yc
    y_blank = y[blank]
    if y_blank < floor:
        y_blank = -INFINITY
    for i in range(nb):
        totals[i] = log_add(pb[i], pnb[i])
    for i in range(nb):  # blank and repeat: the prefix stays
        u = beam[i]
        cand = &cands[i]
        cand.node = u
        cand.token = nodes[u].token
        cand.extra = nodes[u].extra
        cand.lookahead = nodes[u].lookahead
        cand.enter = -INFINITY
        cand.pb = totals[i] + y_blank
        cand.pnb = -INFINITY
        if nodes[u].token >= 0:
            yc = y[nodes[u].token]
            if yc >= floor:
                cand.pnb = pnb[i] + yc
    # With a full beam, a new prefix scoring no better than the worst stay cannot make it:
    # the B stays only gain below, and win ties (they come first). So only classes that
    # could beat that bound from the best prefix are tried for new prefixes (merges into
    # prefixes already in the beam are always made); this changes nothing.
    bound = -INFINITY
    best_total = -INFINITY
    for i in range(nb):
        if totals[i] > best_total:
            best_total = totals[i]
    if nb == B:
        bound = INFINITY
        for i in range(nb):
            val = log_add(cands[i].pb, cands[i].pnb) + cands[i].extra + cands[i].lookahead
            if val < bound:
                bound = val
    n_live = 0
    for c in range(C):
        if c != blank and y[c] >= floor and best_total + y[c] + max_gain > bound:
            s.live[n_live] = c
            n_live += 1
    for j in range(nb):  # l+c already in the beam: its extension term merges into it
        u = beam[j]
        if nodes[u].gap > 0 or nodes[u].parent < 0:
            continue  # the parent prefix is on an edge: not in the beam
        i = nodes[nodes[u].parent].slot
        if i >= 0:
            c = nodes[u].token
            yc = y[c]
            val = (pb[i] if c == nodes[beam[i]].token else totals[i]) + yc
            if yc >= floor and val > -INFINITY:
                cand = &cands[j]
                cand.pnb = log_add(cand.pnb, val)
                if val > cand.enter:
                    cand.enter = val
                    parent_snapshot(s, beam[i], cand)
    nc = nb
    for i in range(nb):  # new prefixes
        u = beam[i]
        last = nodes[u].token
        total = totals[i]
        parent_snapshot(s, u, &snapshot)
        for k in range(n_live):
            c = s.live[k]
            val = (pb[i] if c == last else total) + y[c]
            if val == -INFINITY:
                continue
            if val + nodes[u].extra + max_gain <= bound:
                continue
            child = nodes[u].first_child
            while child >= 0 and nodes[child].edge_token != c:
                child = nodes[child].next_sibling
            if child >= 0 and nodes[child].gap == 0 and nodes[child].slot >= 0:
                continue  # merged above
            cand = &cands[nc]
            cand.parent = u
            cand.token = <int32_t> c
            cand.pb = -INFINITY
            cand.pnb = val
            cand.enter = val
            if child >= 0 and nodes[child].gap == 0:  # a node: LM side already worked out
                cand.node = child
                cand.split = -1
                cand.extra = nodes[child].extra
                cand.lookahead = nodes[child].lookahead
                cand.lm_state = nodes[child].lm_state
                cand.trie = nodes[child].trie
            else:  # new, or on child's edge (C.: the same LM side again)
                cand.node = -1
                cand.split = child
                if not extend(lm, &nodes[u], c, cand):
                    continue
            if val + cand.extra + cand.lookahead <= bound:
                continue
            cand.pframe = snapshot.pframe
            cand.plogp = snapshot.plogp
            nc += 1
    for i in range(nc):
        cands[i].score = log_add(cands[i].pb, cands[i].pnb) + cands[i].extra + \
            cands[i].lookahead
    for i in range(nb):
        nodes[beam[i]].slot = -1
    n_new = select_best(cands, nc, B, s.threshold, s.heap, False)
    for i in range(n_new):
        cand = &cands[s.heap[i]]
        u = cand.node
        if u < 0:
            u = make_node(s, cand, t)
            if u < 0:
                return -1
        r = nodes[u].rec
        # most stays were not entered this frame: their record is not even read
        if cand.enter > -INFINITY and r >= 0 and cand.enter > s.recs[r].enter:
            s.recs[r].enter = cand.enter
            s.recs[r].frame = t
            s.recs[r].logp = s.y_given[cand.token]
            s.recs[r].pframe = cand.pframe
            s.recs[r].plogp = cand.plogp
        nodes[u].slot = i
        beam[B + i] = u
        pb[B + i] = cand.pb
        pnb[B + i] = cand.pnb
    for i in range(nb):  # after the new nodes are made: they keep their parents alive
        if nodes[beam[i]].slot == -1:
            release(s, beam[i])
    for i in range(n_new):
        beam[i] = beam[B + i]
        pb[i] = pb[B + i]
        pnb[i] = pnb[B + i]
    s.nb = n_new
    return 0


cdef int64_t search_rank(Search* s, const LM* lm, int64_t top_k, int how) noexcept nogil:
    """Rank the beam (FINAL, FINAL_UNFINISHED or PARTIAL, see the enum): the best up to top_k
    candidates' indices into s.heap, best first; returns how many. cands[i].node is the node
    and cands[i].score the score of each."""
    cdef int64_t i, u, state, finished = 0
    cdef Cand* cand
    cdef bint can_end
    for i in range(s.nb):
        u = s.beam[i]
        cand = &s.cands[i]
        cand.node = u
        cand.extra = s.nodes[u].extra
        cand.lm_state = s.nodes[u].lm_state
        cand.trie = s.nodes[u].trie
        cand.lookahead = s.nodes[u].lookahead
        if how == PARTIAL:
            cand.score = log_add(s.pb[i], s.pnb[i]) + cand.extra + cand.lookahead
            continue
        can_end = lm.mode != MODE_WORD or close_word(lm, cand)
        cand.ends = can_end
        if not can_end and how == FINAL:
            cand.score = -INFINITY
            continue
        finished += can_end
        if lm.mode != MODE_NONE and lm.has_lm:
            cand.extra += lm.lm_weight * lm_score(lm, cand.lm_state, lm.eos, &state)
        cand.score = log_add(s.pb[i], s.pnb[i]) + cand.extra
    if how == FINAL_UNFINISHED and finished > 0:  # those inside a word only if all are
        for i in range(s.nb):
            if not s.cands[i].ends:
                s.cands[i].score = -INFINITY
    return select_best(s.cands, s.nb, top_k, INFINITY, s.heap, True)


# ------------------------------------------------------------------- driving the search
cdef int run_frames(Search* s, const LM* lm, const floating* lp, const floating* given,
                    Py_ssize_t T, Py_ssize_t t_step, Py_ssize_t c_step) noexcept nogil:
    """Frames lp[0 .. T) (rows t_step bytes apart, classes c_step bytes apart; given in the
    same layout); -1 if memory ran short, -2 if a Python LM raised."""
    cdef Py_ssize_t t, c
    cdef const char* row
    cdef const char* given_row
    cdef bint same = given == lp
    # float64 rows with contiguous classes are read where they are; others are copied
    cdef bint direct = floating is double and c_step == sizeof(double)
    for t in range(T):
        row = <const char*> lp + t * t_step
        given_row = <const char*> given + t * t_step
        if direct:
            s.y = <const double*> row
            s.y_given = <const double*> given_row
        else:
            for c in range(s.C):
                s.row[c] = (<const floating*> (row + c * c_step))[0]
            s.y = s.row
            s.y_given = s.row
            if not same:
                for c in range(s.C):
                    s.given[c] = (<const floating*> (given_row + c * c_step))[0]
                s.y_given = s.given
        if search_frame(s, lm) < 0:
            return -1
        if lm.bridge != NULL:
            if lm.failed[0]:
                return -2
            with gil:
                (<LMBridge> lm.bridge).compact(s)
    return 0


cdef const void* array_data(object array, list keep, str kind) except? NULL:
    """The data of a contiguous 1-d array of int64, float64 or uint8 (kept alive in keep)."""
    cdef const int64_t[::1] ints
    cdef const double[::1] floats
    cdef const uint8_t[::1] flags
    keep.append(array)
    if kind == "i":
        ints = array
        return &ints[0] if ints.shape[0] > 0 else NULL
    if kind == "d":
        floats = array
        return &floats[0] if floats.shape[0] > 0 else NULL
    flags = array
    return &flags[0] if flags.shape[0] > 0 else NULL


cdef class Scorer:
    """The LM side of a search (C., D.), made once from the front end's dict (see
    lucid/ctc/decoder.py): the LM struct the search reads, the arrays it points into, and the
    bridge to a Python LM."""
    cdef LM lm
    cdef list keep
    cdef LMBridge bridge

    def __init__(self, dict scoring):
        cdef LM* lm = &self.lm
        self.keep = []
        lm.mode = scoring["mode"]
        lm.lexicon_only = scoring.get("lexicon_only", False)
        lm.lm_weight = scoring.get("lm_weight", 0.0)
        lm.word_score = scoring.get("word_score", 0.0)
        lm.unk_score = scoring.get("unk_score", 0.0)
        lm.sil_score = scoring.get("sil_score", 0.0)
        delimiter = scoring.get("delimiter")
        lm.delimiter = -1 if delimiter is None else delimiter
        # with an LM, a token's gain is bounded only after extend has worked it out
        lm.max_gain = max(0.0, lm.sil_score) if lm.mode == MODE_NONE else INFINITY
        lm.n_words = 0
        lm.bos_state = 0
        lm.has_lm = 0
        lm.bridge = NULL
        lm.failed = NULL
        self.bridge = None
        if scoring.get("lm") is not None:
            self.fill_tables(scoring["lm"])
        elif scoring.get("py_lm") is not None:
            self.bridge = LMBridge(scoring["py_lm"], scoring["py_unk"])
            lm.bridge = <void*> self.bridge
            lm.failed = &self.bridge.failed
            lm.eos = EOS_WORD
            lm.has_lm = 1
        if lm.mode == MODE_CHAR:
            lm.token_word = <const int64_t*> array_data(scoring["token_word"], self.keep, "i")
        if lm.mode == MODE_WORD:
            lm.sym_start = NULL  # without them each token is its own symbol
            if scoring.get("syms") is not None:
                lm.sym_start = <const int64_t*> array_data(scoring["sym_start"], self.keep, "i")
                lm.syms = <const int64_t*> array_data(scoring["syms"], self.keep, "i")
            lm.word_start = NULL
            if scoring.get("word_start") is not None:
                lm.word_start = <const uint8_t*> array_data(scoring["word_start"], self.keep,
                                                            "b")
            lm.trie_start = <const int64_t*> array_data(scoring["trie_start"], self.keep, "i")
            lm.trie_token = <const int64_t*> array_data(scoring["trie_token"], self.keep, "i")
            lm.trie_child = <const int64_t*> array_data(scoring["trie_child"], self.keep, "i")
            lm.trie_word = <const int64_t*> array_data(scoring["trie_word"], self.keep, "i")
            lm.trie_bonus = <const double*> array_data(scoring["trie_bonus"], self.keep, "d")
            lm.trie_lookahead = <const double*> array_data(scoring["trie_lookahead"],
                                                           self.keep, "d")

    cdef fill_tables(self, dict tables):
        """Point the LM struct at the n-gram tables (D.)."""
        cdef LM* lm = &self.lm
        lm.keys = <const int64_t*> array_data(tables["keys"], self.keep, "i")
        lm.vals = <const int64_t*> array_data(tables["vals"], self.keep, "i")
        lm.mask = len(tables["keys"]) - 1
        lm.n_words = tables["n_words"]
        lm.prob = <const double*> array_data(tables["prob"], self.keep, "d")
        lm.next_state = <const int64_t*> array_data(tables["next_state"], self.keep, "i")
        lm.backoff = <const double*> array_data(tables["backoff"], self.keep, "d")
        lm.backoff_state = <const int64_t*> array_data(tables["backoff_state"], self.keep, "i")
        lm.unk = tables["unk"]
        lm.bos_state = tables["bos_state"]
        lm.eos = tables["eos"]
        lm.has_lm = 1

    cdef int64_t start(self) noexcept:
        """The LM state before the first word (a Python LM's error is kept, D.)."""
        if self.bridge is not None:
            return self.bridge.begin()
        return self.lm.bos_state

    cdef void forget_error(self) noexcept:
        if self.bridge is not None:
            self.bridge.failed = 0
            self.bridge.error = None

    cdef raise_lm_error(self):
        if self.bridge is not None and self.bridge.failed:
            error = self.bridge.error
            self.forget_error()
            raise error


def workspace_bytes(beam_width, C, max_T):
    """Bytes of one search state at the start of a search (F.), as a Python int."""
    beam_width, C = int(beam_width), int(C)
    return ((3 * beam_width + 1) * sizeof(Node)
            + beam_width * (1 + min(int(max_T), FIRST_FRAMES)) * sizeof(Rec)
            + beam_width * C * sizeof(Cand)
            + (3 * beam_width + C) * sizeof(int64_t)
            + (4 * beam_width + 2 * C) * sizeof(double))


cdef class BeamSearch:
    """One sample's search kept between calls (G.): begin(), step() over any number of
    chunks of frames, then rank() to read hypotheses at any point (the beam as it stands, or
    as at the end of the input). The front end (lucid/ctc/stream.py) checks the arguments."""
    cdef Search s
    cdef Scorer scorer
    cdef readonly bint begun

    def __cinit__(self, int64_t C, int64_t blank, int64_t beam_width, double token_min_logp,
                  double beam_threshold, Scorer scorer):
        self.scorer = scorer
        if search_alloc(&self.s, beam_width, C, blank, token_min_logp, beam_threshold,
                        FIRST_FRAMES) < 0:
            search_free(&self.s)
            raise MemoryError(f"BeamSearch: could not allocate the workspace of a beam of "
                              f"{beam_width} over {C} classes")
        self.begun = False

    def __dealloc__(self):
        search_free(&self.s)

    def begin(self):
        """Start a new input: the empty prefix alone."""
        self.scorer.forget_error()
        search_begin(&self.s, self.scorer.start())
        self.begun = not self.scorer.bridge or not self.scorer.bridge.failed
        self.scorer.raise_lm_error()

    def step(self, const floating[:, :] log_probs, const floating[:, :] given):
        """Search the frames of log_probs (T, C); given (T, C) are the caller's values, whose
        log-probabilities the records keep (the same array when nothing was adjusted)."""
        cdef Py_ssize_t T = log_probs.shape[0]
        cdef int rc = 0
        if T == 0:
            return
        if self.scorer.bridge is None:
            with nogil:
                rc = run_frames(&self.s, &self.scorer.lm, &log_probs[0, 0], &given[0, 0], T,
                                log_probs.strides[0], log_probs.strides[1])
        else:
            rc = run_frames(&self.s, &self.scorer.lm, &log_probs[0, 0], &given[0, 0], T,
                            log_probs.strides[0], log_probs.strides[1])
        if rc == -2:
            self.begun = False
            self.scorer.raise_lm_error()
        if rc < 0:
            self.begun = False
            raise MemoryError(f"BeamSearch: could not grow the prefixes of a beam of "
                              f"{self.s.B} after {self.s.t} frames")

    def rank(self, int64_t top_k, int how):
        """Up to top_k hypotheses, best first, as (tokens, frames, log_probs, score): int64,
        int64 and float64 arrays and a float. how: SEARCH_FINAL, SEARCH_FINAL_UNFINISHED or
        SEARCH_PARTIAL. The search itself is not changed: it can go on after."""
        import numpy as np
        cdef int64_t m, k, u, n
        cdef int64_t[::1] tokens, frames
        cdef double[::1] logps
        m = search_rank(&self.s, &self.scorer.lm, min(top_k, self.s.B), how)
        self.scorer.raise_lm_error()
        found = []
        for k in range(m):
            u = self.s.cands[self.s.heap[k]].node
            n = hypothesis_length(&self.s, u)
            tokens_a = np.empty(n, dtype=np.int64)
            frames_a = np.empty(n, dtype=np.int64)
            logps_a = np.empty(n, dtype=np.float64)
            if n:
                tokens, frames, logps = tokens_a, frames_a, logps_a
                read_hypothesis(&self.s, u, &tokens[0], &frames[0], &logps[0])
            found.append((tokens_a, frames_a, logps_a, self.s.cands[self.s.heap[k]].score))
        return found

    @property
    def frames(self):
        """Frames searched since begin()."""
        return self.s.t

    @property
    def nodes(self):
        """Nodes in use (B.): at most 2 beam_width + 1 between frames."""
        return self.s.n_nodes

    @property
    def records(self):
        """Records in use (B.): the distinct tokens of the hypotheses' prefixes."""
        return self.s.n_recs

    @property
    def record_capacity(self):
        """Records the array has room for (it grows by doubling)."""
        return self.s.rec_cap

    @property
    def lm_states(self):
        """States of a Python LM held (D.); 0 with n-gram tables."""
        return 0 if self.scorer.bridge is None else len(self.scorer.bridge.states)


def ctc_prefix_beam_search(
    const floating[:, :, :] log_probs,  # IN (T, N, C), any strides: as searched
    const floating[:, :, :] given,      # IN (T, N, C): the caller's values (for logps)
    const int64_t[::1] input_lengths,   # IN (N,) each in [0, T]
    int64_t blank,
    int64_t beam_width,
    int64_t top_k,
    double token_min_logp,
    double beam_threshold,
    Scorer scorer,                      # IN the LM side (C.)
    int64_t[:, :, ::1] out_tokens,      # OUT (N, top_k, T)
    int64_t[:, :, ::1] out_frames,      # OUT (N, top_k, T)
    double[:, :, ::1] out_logps,        # OUT (N, top_k, T)
    int64_t[:, ::1] out_len,            # OUT (N, top_k)
    double[:, ::1] out_score,           # OUT (N, top_k)
    int64_t[::1] out_count,             # OUT (N,) hypotheses found
    int n_threads,
):
    """Prefix beam search of a validated batch (see lucid/ctc/beam.py): each sample's search
    begun, stepped over its frames and ranked at the end (FINAL), as BeamSearch does."""
    cdef int64_t N = log_probs.shape[1], C = log_probs.shape[2], stride = out_tokens.shape[2]
    cdef int64_t n, k, m, u, max_T = 0
    cdef int64_t B = beam_width
    cdef Py_ssize_t failed = 0
    cdef Search* s = NULL
    cdef const LM* lm = &scorer.lm
    cdef int rc
    cdef int64_t bos
    for n in range(N):
        max_T = max(max_T, input_lengths[n])
    if workspace_bytes(B, C, max_T) > PY_SSIZE_T_MAX:  # F.
        raise ValueError(f"ctc_prefix_beam_search: the workspace of a beam of {B} over {C} "
                         f"classes and {max_T} frames cannot be addressed")
    if scorer.bridge is not None:
        n_threads = 1  # a Python LM is called with the GIL: one sample at a time
        scorer.forget_error()
    # a thread per sample at most: a thread with no sample would only be woken and wait
    with nogil, parallel(num_threads=max(1, min(n_threads, N))):
        s = <Search*> malloc(sizeof(Search))
        if s != NULL and search_alloc(s, B, C, blank, token_min_logp, beam_threshold,
                                      min(max_T, FIRST_FRAMES)) < 0:
            search_free(s)
            free(s)
            s = NULL
        for n in prange(N, schedule="dynamic"):
            if s == NULL:
                failed += 1
                continue
            if lm.bridge != NULL and lm.failed[0]:
                continue  # raised below
            if lm.bridge != NULL:
                with gil:
                    bos = scorer.start()
            else:
                bos = lm.bos_state
            search_begin(s, bos)
            rc = 0
            if input_lengths[n] > 0:
                rc = run_frames(s, lm, &log_probs[0, n, 0], &given[0, n, 0], input_lengths[n],
                                log_probs.strides[0], log_probs.strides[2])
            if rc == -1:
                failed += 1
            elif rc == 0:
                m = search_rank(s, lm, top_k, FINAL)
                out_count[n] = m
                for k in range(m):
                    u = s.cands[s.heap[k]].node
                    out_score[n, k] = s.cands[s.heap[k]].score
                    out_len[n, k] = hypothesis_length(s, u)
                    read_hypothesis(s, u, &out_tokens[n, k, 0], &out_frames[n, k, 0],
                                    &out_logps[n, k, 0])
        if s != NULL:
            search_free(s)
            free(s)
    scorer.raise_lm_error()
    if failed:
        raise MemoryError(f"ctc_prefix_beam_search: could not allocate the workspace of a beam "
                          f"of {B} over {C} classes and up to {max_T} frames")


def lm_sentence_score(dict tables, const int64_t[::1] words, bint bos, bint eos):
    """ln P(words) under the n-gram tables, through the same lookup the search uses."""
    cdef Scorer scorer = Scorer({"mode": MODE_NONE, "lm": tables})
    cdef int64_t i, state
    cdef double total = 0.0
    state = scorer.lm.bos_state if bos else 0
    for i in range(words.shape[0]):
        total += ngram_score(&scorer.lm, state, words[i], &state)
    if eos:
        total += ngram_score(&scorer.lm, state, scorer.lm.eos, &state)
    return total
