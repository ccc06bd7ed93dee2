"""CTC prefix beam search, optionally fused with an n-gram language model.

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
   from l+c's side: its parent is in the beam), so every path is counted exactly once: when nothing is pruned, pb (+) pnb after the last frame is the
   labelling's exact log-probability, -ctc_loss. Pruning keeps the beam_width best hypotheses
   per frame (and optionally drops hypotheses more than beam_threshold below the best, and
   classes below token_min_logp unless they are the frame's most likely, as pyctcdecode does).
B. Prefixes are nodes of a trie (parent, token, child list), so a hypothesis is one int64 and
   l+c is found by walking l's children. Candidates of a frame are plain structs; only those
   that survive pruning get a node: at most beam_width new nodes per frame, in an array that
   grows by doubling (a beam that keeps re-finding the same prefixes stays small). Each
   node keeps the frame at which its token was most likely entered (the largest extension term
   above over all frames it was extended in): the token's timestep, lowered where needed so
   that a hypothesis's timesteps strictly increase.
C. Language model ("shallow fusion"). A node also carries what the LM says about its prefix:
   an n-gram state, the position of its unfinished word in a word trie, and `extra`, the sum of
   lm_weight * ln P_LM, word insertion bonuses, unknown-word penalties and hotword boosts of the
   words completed so far. These depend on the prefix only, never on the path, so pb/pnb stay
   purely acoustic and hypotheses are ranked by pb (+) pnb + extra + lookahead, where lookahead
   is a function of the unfinished word (the unknown-word penalty once it has left the trie, or
   a hotword's boost in proportion to how much of it is spelled). Char-level LMs score every
   label; word-level LMs score a word when the delimiter (or the end of the input) closes it.
   With a lexicon, extensions that leave its trie are dropped.
D. N-gram lookup. Every n-gram of order < N is a state; an open-addressing hash maps
   (state, word) to the n-gram's entry (ln-probability, the state after it). A miss adds the
   state's backoff weight and retries from its longest proper suffix state (Katz backoff, as in
   ARPA files); a word unknown at the root is <unk>.
E. Threading. Samples are independent: the batch is split over OpenMP threads, each with its
   own workspace malloc'd inside the parallel region. The search is deterministic (ties go to
   the earlier candidate), so results do not depend on the thread count.
F. Sizes. A thread's workspace is beam_width x C candidates, 4 beam_width doubles,
   3 beam_width + C ints and the nodes (B.). workspace_bytes computes it in Python integers,
   and one beyond sys.maxsize bytes (more than can be addressed) is refused before any malloc:
   a product that wrapped around would allocate too little and the search write past it. The
   node array's doubling is refused the same way, as a failed allocation. Class indices and
   frame numbers are kept in 32 bits: the caller keeps C and the lengths below 2**31.
"""

from cython.parallel cimport parallel, prange
from libc.math cimport INFINITY, exp, log1p
from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.stdlib cimport free, malloc, realloc

from lucid._C._rows cimport floating

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX  # sys.maxsize: no object can be larger (F.)

cdef enum:
    MODE_NONE = 0
    MODE_CHAR = 1
    MODE_WORD = 2

cdef enum:
    FIRST_FRAMES = 256  # the node array starts with room for this many frames' new prefixes


cdef struct Node:
    int64_t parent
    int64_t first_child
    int64_t next_sibling
    int64_t lm_state
    int64_t trie          # position of the unfinished word in the word trie; -1 off the trie
    int64_t slot          # index in the current beam, -1 if not in it
    double extra          # LM terms of the completed words (C.)
    double lookahead      # LM terms of the unfinished word (C.)
    double enter          # best extension term seen for this node (B.)
    int32_t token
    int32_t frame


cdef struct Cand:
    int64_t node          # the existing node, or -1 if it must be created
    int64_t parent
    int64_t lm_state
    int64_t trie
    double pb
    double pnb
    double extra
    double lookahead
    double enter
    double score
    int32_t token


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
    # scoring (C.)
    int mode
    double lm_weight
    double word_score
    double unk_score
    int64_t delimiter
    const int64_t* token_word       # char mode: LM word of each class, -1 unknown
    const int64_t* trie_start       # word mode: children of trie node i are entries
    const int64_t* trie_token       #   trie_start[i] .. trie_start[i+1] (sorted by token)
    const int64_t* trie_child
    const int64_t* trie_word        #   LM word ending at node i; -1 <unk>; -2 none ends here
    const double* trie_bonus        #   hotword boost of the word ending at node i
    const double* trie_lookahead    #   hotword boost in proportion to the prefix spelled
    int lexicon_only
    int64_t bos_state
    int64_t eos
    double max_gain       # bound on what one token adds to extra + lookahead (inf: unknown)


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


cdef inline double lm_score(const LM* lm, int64_t state, int64_t word,
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


cdef inline int64_t trie_next(const LM* lm, int64_t node, int64_t token) noexcept nogil:
    cdef int64_t i
    if node < 0:
        return -1
    for i in range(lm.trie_start[node], lm.trie_start[node + 1]):
        if lm.trie_token[i] == token:
            return lm.trie_child[i]
    return -1


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
    if lm.n_words > 0:
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
    if lm.mode == MODE_CHAR:
        word = lm.token_word[token]
        if word < 0:
            c.extra += lm.unk_score
        c.extra += lm.lm_weight * lm_score(lm, c.lm_state, word, &state) + lm.word_score
        c.lm_state = state
    elif lm.mode == MODE_WORD:
        if token == lm.delimiter:
            return close_word(lm, c)
        c.trie = trie_next(lm, c.trie, token)
        if c.trie < 0:
            if lm.lexicon_only:
                return False
            c.lookahead = lm.unk_score
        else:
            c.lookahead = lm.trie_lookahead[c.trie]
    return True


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


cdef int64_t search_one(
    const floating[:, :, :] log_probs, int64_t n, int64_t T, int64_t C, int64_t blank,
    int64_t B, int64_t top_k, double token_min_logp, double threshold, const LM* lm,
    Node** nodes_p, int64_t* capacity, Cand* cands, int64_t* beam, double* pb, double* pnb,
    int64_t* heap, int64_t* live,
    int64_t* out_tokens, int64_t* out_frames, int64_t* out_len, double* out_score,
    int64_t stride,
) noexcept nogil:
    """Prefix beam search of sample n (A.-C.); writes up to top_k hypotheses, returns how many
    (-1 if the node array could not grow; it is reallocated through nodes_p)."""
    cdef int64_t n_nodes = 1, nb = 1, nc, i, j, c, t, u, child, last, k, m, depth
    cdef Node* nodes = nodes_p[0]
    cdef Node* grown
    cdef double y_blank, total, val, y, floor, bound, best_total
    cdef int64_t n_live
    # the most one token can add to extra + lookahead (0 without an LM): bounds a candidate's
    # score before its LM side is worked out
    cdef double max_gain = lm.max_gain
    cdef Cand* cand
    cdef Node* node

    nodes[0].parent = -1
    nodes[0].first_child = -1
    nodes[0].next_sibling = -1
    nodes[0].lm_state = lm.bos_state
    nodes[0].trie = 0
    nodes[0].slot = 0
    nodes[0].extra = 0.0
    nodes[0].lookahead = 0.0
    nodes[0].token = -1
    nodes[0].frame = -1
    beam[0] = 0
    pb[0] = 0.0
    pnb[0] = -INFINITY

    for t in range(T):
        if n_nodes + B > capacity[0]:  # room for this frame's new prefixes
            if capacity[0] > PY_SSIZE_T_MAX // (2 * <int64_t> sizeof(Node)):  # F.
                return -1
            grown = <Node*> realloc(nodes, 2 * capacity[0] * sizeof(Node))
            if grown == NULL:
                return -1
            nodes = grown
            nodes_p[0] = grown
            capacity[0] *= 2
        # classes below token_min_logp are skipped, except the frame's most likely one
        floor = token_min_logp
        if floor > -INFINITY:
            y = -INFINITY
            for c in range(C):
                if log_probs[t, n, c] > y:
                    y = log_probs[t, n, c]
            if y < floor:
                floor = y
        y_blank = log_probs[t, n, blank]
        if y_blank < floor:
            y_blank = -INFINITY
        for i in range(nb):  # blank and repeat: the prefix stays
            u = beam[i]
            cand = &cands[i]
            cand.node = u
            cand.extra = nodes[u].extra
            cand.lookahead = nodes[u].lookahead
            cand.enter = -INFINITY
            cand.pb = log_add(pb[i], pnb[i]) + y_blank
            cand.pnb = -INFINITY
            if nodes[u].token >= 0:
                y = log_probs[t, n, nodes[u].token]
                if y >= floor:
                    cand.pnb = pnb[i] + y
        # With a full beam, a new prefix scoring no better than the worst stay cannot make it:
        # the B stays only gain below, and win ties (they come first). So only classes that
        # could beat that bound from the best prefix are tried for new prefixes (merges into
        # prefixes already in the beam are always made); this changes nothing.
        bound = -INFINITY
        best_total = -INFINITY
        for i in range(nb):
            val = log_add(pb[i], pnb[i])
            if val > best_total:
                best_total = val
        if nb == B:
            bound = INFINITY
            for i in range(nb):
                val = log_add(cands[i].pb, cands[i].pnb) + cands[i].extra + cands[i].lookahead
                if val < bound:
                    bound = val
        n_live = 0
        for c in range(C):
            y = log_probs[t, n, c]
            if c != blank and y >= floor and best_total + y + max_gain > bound:
                live[n_live] = c
                n_live += 1
        for j in range(nb):  # l+c already in the beam: its extension term merges into it
            u = beam[j]
            i = nodes[nodes[u].parent].slot if nodes[u].parent >= 0 else -1
            if i >= 0:
                c = nodes[u].token
                y = log_probs[t, n, c]
                val = (pb[i] if c == nodes[beam[i]].token else log_add(pb[i], pnb[i])) + y
                if y >= floor and val > -INFINITY:
                    cand = &cands[j]
                    cand.pnb = log_add(cand.pnb, val)
                    if val > cand.enter:
                        cand.enter = val
        nc = nb
        for i in range(nb):  # new prefixes
            u = beam[i]
            last = nodes[u].token
            total = log_add(pb[i], pnb[i])
            for k in range(n_live):
                c = live[k]
                val = (pb[i] if c == last else total) + log_probs[t, n, c]
                if val == -INFINITY:
                    continue
                if val + nodes[u].extra + max_gain <= bound:
                    continue
                child = nodes[u].first_child
                while child >= 0 and nodes[child].token != c:
                    child = nodes[child].next_sibling
                if child >= 0 and nodes[child].slot >= 0:  # merged above
                    continue
                cand = &cands[nc]
                cand.node = child
                cand.parent = u
                cand.token = <int32_t> c
                cand.pb = -INFINITY
                cand.pnb = val
                cand.enter = val
                if child >= 0:  # known prefix, LM side already worked out
                    cand.extra = nodes[child].extra
                    cand.lookahead = nodes[child].lookahead
                    cand.lm_state = nodes[child].lm_state
                    cand.trie = nodes[child].trie
                elif not extend(lm, &nodes[u], c, cand):
                    continue
                if val + cand.extra + cand.lookahead <= bound:
                    continue
                nc += 1
        for i in range(nc):
            cands[i].score = log_add(cands[i].pb, cands[i].pnb) + cands[i].extra + \
                cands[i].lookahead
        for i in range(nb):
            nodes[beam[i]].slot = -1
        nb = select_best(cands, nc, B, threshold, heap, False)
        for i in range(nb):
            cand = &cands[heap[i]]
            u = cand.node
            if u < 0:  # a new prefix gets its node
                u = n_nodes
                n_nodes += 1
                node = &nodes[u]
                node.parent = cand.parent
                node.token = cand.token
                node.first_child = -1
                node.next_sibling = nodes[cand.parent].first_child
                nodes[cand.parent].first_child = u
                node.lm_state = cand.lm_state
                node.trie = cand.trie
                node.extra = cand.extra
                node.lookahead = cand.lookahead
                node.enter = -INFINITY
            if cand.enter > nodes[u].enter:
                nodes[u].enter = cand.enter
                nodes[u].frame = <int32_t> t
            nodes[u].slot = i
            beam[B + i] = u
            pb[B + i] = cand.pb
            pnb[B + i] = cand.pnb
        for i in range(nb):
            beam[i] = beam[B + i]
            pb[i] = pb[B + i]
            pnb[i] = pnb[B + i]
        if nb == 0:
            return 0

    # end of input: close the unfinished word, add </s>, rank by the final score
    for i in range(nb):
        u = beam[i]
        cand = &cands[i]
        cand.node = u
        cand.extra = nodes[u].extra
        cand.lm_state = nodes[u].lm_state
        cand.trie = nodes[u].trie
        cand.score = -INFINITY
        if lm.mode == MODE_WORD and not close_word(lm, cand):
            continue
        if lm.mode != MODE_NONE and lm.n_words > 0:
            cand.extra += lm.lm_weight * lm_score(lm, cand.lm_state, lm.eos, &c)
        cand.score = log_add(pb[i], pnb[i]) + cand.extra
    m = select_best(cands, nb, top_k, INFINITY, heap, True)
    for k in range(m):
        u = cands[heap[k]].node
        out_score[k] = cands[heap[k]].score
        depth = 0
        j = u
        while nodes[j].token >= 0:
            depth += 1
            j = nodes[j].parent
        out_len[k] = depth
        j = u
        while nodes[j].token >= 0:
            depth -= 1
            out_tokens[k * stride + depth] = nodes[j].token
            out_frames[k * stride + depth] = nodes[j].frame
            # a prefix can be re-entered more strongly after its extensions were made: keep
            # the frames strictly increasing (each token's frame is at least its position,
            # since a prefix of length d is first made at frame d - 1 or later)
            if depth + 1 < out_len[k] and \
                    out_frames[k * stride + depth] >= out_frames[k * stride + depth + 1]:
                out_frames[k * stride + depth] = out_frames[k * stride + depth + 1] - 1
            j = nodes[j].parent
    return m


cdef void fill_lm(LM* lm, dict tables):
    """Point lm at the arrays of tables (kept alive by the caller)."""
    cdef const int64_t[::1] keys = tables["keys"]
    cdef const int64_t[::1] vals = tables["vals"]
    cdef const double[::1] prob = tables["prob"]
    cdef const int64_t[::1] next_state = tables["next_state"]
    cdef const double[::1] backoff = tables["backoff"]
    cdef const int64_t[::1] backoff_state = tables["backoff_state"]
    lm.keys = &keys[0]
    lm.vals = &vals[0]
    lm.mask = keys.shape[0] - 1
    lm.n_words = tables["n_words"]
    lm.prob = &prob[0]
    lm.next_state = &next_state[0]
    lm.backoff = &backoff[0]
    lm.backoff_state = &backoff_state[0]
    lm.unk = tables["unk"]
    lm.bos_state = tables["bos_state"]
    lm.eos = tables["eos"]


def workspace_bytes(beam_width, C, max_T):
    """Bytes of one thread's workspace at the start of a search (F.), as a Python int."""
    beam_width, C = int(beam_width), int(C)
    return (beam_width * (1 + min(int(max_T), FIRST_FRAMES)) * sizeof(Node)
            + beam_width * C * sizeof(Cand)
            + (3 * beam_width + C) * sizeof(int64_t)
            + 4 * beam_width * sizeof(double))


def ctc_prefix_beam_search(
    const floating[:, :, :] log_probs,  # IN (T, N, C), any strides
    const int64_t[::1] input_lengths,   # IN (N,) each in [0, T]
    int64_t blank,
    int64_t beam_width,
    int64_t top_k,
    double token_min_logp,
    double beam_threshold,
    dict scoring,                       # IN the LM side (C.), see lucid/decoder/ctc_decoder.py
    int64_t[:, :, ::1] out_tokens,      # OUT (N, top_k, T)
    int64_t[:, :, ::1] out_frames,      # OUT (N, top_k, T)
    int64_t[:, ::1] out_len,            # OUT (N, top_k)
    double[:, ::1] out_score,           # OUT (N, top_k)
    int64_t[::1] out_count,             # OUT (N,) hypotheses found
    int n_threads,
):
    """Prefix beam search of a validated batch (see lucid/nn/functional/beam.py)."""
    cdef int64_t N = log_probs.shape[1], C = log_probs.shape[2], stride = out_tokens.shape[2]
    cdef int64_t n, max_T = 0
    cdef int64_t B = beam_width
    cdef Py_ssize_t failed = 0
    cdef Node* nodes = NULL
    cdef int64_t capacity = 0
    cdef Cand* cands = NULL
    cdef int64_t* ints = NULL
    cdef double* floats = NULL
    cdef LM lm
    cdef const int64_t[::1] token_word, trie_start, trie_token, trie_child, trie_word
    cdef const double[::1] trie_bonus, trie_lookahead
    for n in range(N):
        max_T = max(max_T, input_lengths[n])
    if workspace_bytes(B, C, max_T) > PY_SSIZE_T_MAX:  # F.
        raise ValueError(f"ctc_prefix_beam_search: the workspace of a beam of {B} over {C} "
                         f"classes and {max_T} frames cannot be addressed")

    lm.mode = scoring["mode"]
    lm.max_gain = 0.0 if lm.mode == MODE_NONE else INFINITY  # with an LM, checked after extend
    lm.n_words = 0
    lm.bos_state = 0
    lm.lexicon_only = scoring.get("lexicon_only", False)
    lm.lm_weight = scoring.get("lm_weight", 0.0)
    lm.word_score = scoring.get("word_score", 0.0)
    lm.unk_score = scoring.get("unk_score", 0.0)
    lm.delimiter = scoring.get("delimiter", -1)
    if scoring.get("lm") is not None:
        fill_lm(&lm, scoring["lm"])
    if lm.mode == MODE_CHAR:
        token_word = scoring["token_word"]
        lm.token_word = &token_word[0]
    if lm.mode == MODE_WORD:
        trie_start = scoring["trie_start"]
        trie_token = scoring["trie_token"]
        trie_child = scoring["trie_child"]
        trie_word = scoring["trie_word"]
        trie_bonus = scoring["trie_bonus"]
        trie_lookahead = scoring["trie_lookahead"]
        lm.trie_start = &trie_start[0]
        lm.trie_token = &trie_token[0] if trie_token.shape[0] > 0 else NULL
        lm.trie_child = &trie_child[0] if trie_child.shape[0] > 0 else NULL
        lm.trie_word = &trie_word[0]
        lm.trie_bonus = &trie_bonus[0]
        lm.trie_lookahead = &trie_lookahead[0]

    # a thread per sample at most: a thread with no sample would only be woken and wait
    with nogil, parallel(num_threads=max(1, min(n_threads, N))):
        capacity = B * (1 + min(max_T, FIRST_FRAMES))
        nodes = <Node*> malloc(capacity * sizeof(Node))
        cands = <Cand*> malloc(B * C * sizeof(Cand))
        ints = <int64_t*> malloc((3 * B + C) * sizeof(int64_t))
        floats = <double*> malloc(4 * B * sizeof(double))
        for n in prange(N, schedule="dynamic"):
            if nodes == NULL or cands == NULL or ints == NULL or floats == NULL:
                failed += 1
            else:
                out_count[n] = search_one(
                    log_probs, n, input_lengths[n], C, blank, B, top_k, token_min_logp,
                    beam_threshold, &lm, &nodes, &capacity, cands, ints, floats,
                    floats + 2 * B, ints + 2 * B, ints + 3 * B, &out_tokens[n, 0, 0],
                    &out_frames[n, 0, 0], &out_len[n, 0], &out_score[n, 0], stride)
                if out_count[n] < 0:
                    failed += 1
        free(nodes)
        free(cands)
        free(ints)
        free(floats)
    if failed:
        raise MemoryError(f"ctc_prefix_beam_search: could not allocate the workspace of a beam "
                          f"of {B} over {C} classes and up to {max_T} frames")


def lm_sentence_score(dict tables, const int64_t[::1] words, bint bos, bint eos):
    """ln P(words) under the n-gram tables, through the same lookup the search uses."""
    cdef LM lm
    cdef int64_t i, state
    cdef double total = 0.0
    fill_lm(&lm, tables)
    state = lm.bos_state if bos else 0
    for i in range(words.shape[0]):
        total += lm_score(&lm, state, words[i], &state)
    if eos:
        total += lm_score(&lm, state, lm.eos, &state)
    return total
