# The prefixes of the CTC beam search (lucid/_C/_ctc_beam.pyx, design notes B. and G.): the
# records of tokens and the nodes the search works with, how they are made, freed and folded
# into edges, and how a hypothesis is read back from them; and the search state that holds
# them between frames. Inline, as in every declaration file here.

from libc.math cimport INFINITY
from libc.stdint cimport int32_t, int64_t
from libc.stdlib cimport free, malloc, realloc

cdef extern from "Python.h":
    const Py_ssize_t PY_SSIZE_T_MAX  # sys.maxsize: no object can be larger

cdef enum:
    FREE = -2             # the slot of a node in the free list


cdef struct Rec:          # one token of a live prefix (B., G.)
    int64_t up            # the record of the token before, -1 for the first; free-list link
    int64_t down          # inside an edge: the record of the token after
    double enter          # best extension term seen for this prefix
    double logp           # the caller's log-probability of the token at `frame`
    double first_logp     # ... at `first`
    double plogp          # ... of the parent's token at `pframe`
    int32_t token
    int32_t frame         # the frame of `enter`
    int32_t first         # the frame the prefix first entered the beam
    int32_t pframe        # the parent's `frame` when this one's was set (-1: no parent)


cdef struct Node:         # a prefix the search works with (B.)
    int64_t rec           # its last token's record, -1 for the root
    int64_t parent        # the nearest node above, -1 for the root
    int64_t top           # the first record below the parent's on the way here (rec if gap 0)
    int64_t gap           # records strictly between the parent's and rec
    int64_t first_child
    int64_t next_sibling  # also the free-list link
    int64_t prev_sibling
    int64_t n_children
    int64_t lm_state
    int64_t trie          # position of the unfinished word in the word trie; -1 off the trie
    int64_t slot          # index in the current beam, -1 if not in it, FREE if unused
    double extra          # LM terms of the completed words (C.)
    double lookahead      # LM terms of the unfinished word (C.)
    int32_t token         # the last token
    int32_t edge_token    # the token of `top`: what the parent is extended by to come here


cdef struct Cand:
    int64_t node          # the existing node, or -1 if it must be made
    int64_t split         # -1, or the node whose edge holds the prefix (B.)
    int64_t parent
    int64_t lm_state
    int64_t trie
    double pb
    double pnb
    double extra
    double lookahead
    double enter
    double plogp
    double score
    int32_t token
    int32_t pframe
    int32_t ends          # when ranked at the end: a lexicon lets it end here


cdef struct Search:       # one sample's search, kept between frames (G.)
    int64_t B
    int64_t C
    int64_t blank
    double token_min_logp
    double threshold
    Node* nodes           # 3 B + 1, fixed (B.)
    int64_t node_cap
    int64_t free_node
    int64_t n_nodes
    Rec* recs             # grows by doubling
    int64_t rec_cap
    int64_t free_rec
    int64_t n_recs
    int64_t rec_end       # records ever handed out since begin: those past it are unused
    Cand* cands           # B x C
    int64_t* beam         # 2 B: the beam, then the next one
    int64_t* heap         # B
    int64_t* live         # C
    double* pb            # 2 B
    double* pnb           # 2 B
    double* row           # C: a frame's log-probabilities as searched, when copied
    double* given         # C: ... as the caller gave them (for the records' logp)
    const double* y       # this frame's log-probabilities as searched: row, or the caller's
    const double* y_given # ... as given: given, y, or the caller's
    int64_t nb
    int64_t t


# ----------------------------------------------------------------------- nodes and records
cdef inline int64_t new_record(Search* s) noexcept nogil:
    """A record from the free list or the end of the array (grown if full); -1 if it cannot
    grow (F.)."""
    cdef int64_t r = s.free_rec
    cdef Rec* grown
    if r >= 0:
        s.free_rec = s.recs[r].up
    else:
        if s.rec_end == s.rec_cap:
            if s.rec_cap > PY_SSIZE_T_MAX // (2 * <int64_t> sizeof(Rec)):
                return -1
            grown = <Rec*> realloc(s.recs, 2 * s.rec_cap * sizeof(Rec))
            if grown == NULL:
                return -1
            s.recs = grown
            s.rec_cap *= 2
        r = s.rec_end
        s.rec_end += 1
    s.n_recs += 1
    return r


cdef inline int64_t new_node(Search* s) noexcept nogil:
    """A node from the free list (B.: it never runs out, -1 if it did)."""
    cdef int64_t u = s.free_node
    if u < 0:
        return -1
    s.free_node = s.nodes[u].next_sibling
    s.n_nodes += 1
    return u


cdef inline void free_node(Search* s, int64_t u) noexcept nogil:
    s.nodes[u].slot = FREE
    s.nodes[u].next_sibling = s.free_node
    s.free_node = u
    s.n_nodes -= 1


cdef inline void replace_child(Search* s, int64_t old, int64_t new) noexcept nogil:
    """Put node new where old is among old's parent's children."""
    cdef Node* o = &s.nodes[old]
    cdef Node* n = &s.nodes[new]
    n.prev_sibling = o.prev_sibling
    n.next_sibling = o.next_sibling
    if o.prev_sibling >= 0:
        s.nodes[o.prev_sibling].next_sibling = new
    else:
        s.nodes[o.parent].first_child = new
    if o.next_sibling >= 0:
        s.nodes[o.next_sibling].prev_sibling = new


cdef inline void release(Search* s, int64_t u) noexcept nogil:
    """After a frame, node u has left the beam (B.): free it with its edge if nothing extends
    it (and so on upwards), or hand it to its only child's edge."""
    cdef Node* node
    cdef int64_t p, v, r, up, k
    while u > 0:  # the root stays
        node = &s.nodes[u]
        if node.slot != -1 or node.n_children >= 2:
            return
        p = node.parent
        if node.n_children == 1:
            v = node.first_child
            s.recs[node.rec].down = s.nodes[v].top
            replace_child(s, u, v)
            s.nodes[v].parent = p
            s.nodes[v].top = node.top
            s.nodes[v].edge_token = node.edge_token
            s.nodes[v].gap += node.gap + 1
            free_node(s, u)
            return
        r = node.rec
        for k in range(node.gap + 1):
            up = s.recs[r].up
            s.recs[r].up = s.free_rec
            s.free_rec = r
            s.n_recs -= 1
            r = up
        if node.prev_sibling >= 0:
            s.nodes[node.prev_sibling].next_sibling = node.next_sibling
        else:
            s.nodes[p].first_child = node.next_sibling
        if node.next_sibling >= 0:
            s.nodes[node.next_sibling].prev_sibling = node.prev_sibling
        s.nodes[p].n_children -= 1
        free_node(s, u)
        u = p


cdef inline int64_t make_node(Search* s, const Cand* cand, int32_t t) noexcept nogil:
    """The node of a selected candidate that has none: split off an edge, or new with a new
    record; -1 if the records cannot grow."""
    cdef int64_t u = cand.parent, x, v, r
    cdef Node* node
    cdef Rec* rec
    if cand.split >= 0:
        v = cand.split
        r = s.nodes[v].top
        x = new_node(s)
        if x < 0:
            return -1
        replace_child(s, v, x)
        node = &s.nodes[x]
        node.first_child = v
        node.n_children = 1
        s.nodes[v].parent = x
        s.nodes[v].prev_sibling = -1
        s.nodes[v].next_sibling = -1
        s.nodes[v].gap -= 1
        if s.nodes[v].gap == 0:
            s.nodes[v].top = s.nodes[v].rec
        else:
            s.nodes[v].top = s.recs[r].down
        s.nodes[v].edge_token = s.recs[s.nodes[v].top].token
    else:
        r = new_record(s)
        if r < 0:
            return -1
        rec = &s.recs[r]
        rec.up = s.nodes[u].rec
        rec.down = -1
        rec.token = cand.token
        rec.enter = -INFINITY
        rec.first = t
        rec.first_logp = s.y_given[cand.token]
        rec.frame = t
        rec.logp = rec.first_logp
        rec.pframe = cand.pframe
        rec.plogp = cand.plogp
        x = new_node(s)
        if x < 0:
            return -1
        node = &s.nodes[x]
        node.first_child = -1
        node.n_children = 0
        node.prev_sibling = -1
        node.next_sibling = s.nodes[u].first_child
        if node.next_sibling >= 0:
            s.nodes[node.next_sibling].prev_sibling = x
        s.nodes[u].first_child = x
        s.nodes[u].n_children += 1
    node.rec = r
    node.parent = u
    node.top = r
    node.gap = 0
    node.token = cand.token
    node.edge_token = cand.token
    node.lm_state = cand.lm_state
    node.trie = cand.trie
    node.extra = cand.extra
    node.lookahead = cand.lookahead
    node.slot = -1
    return x


cdef inline int search_alloc(Search* s, int64_t B, int64_t C, int64_t blank,
                             double token_min_logp, double threshold,
                             int64_t first_frames) noexcept nogil:
    """Allocate a search state (F.); -1 if memory is short (whatever was allocated is freed
    by search_free)."""
    s.B, s.C, s.blank = B, C, blank
    s.token_min_logp, s.threshold = token_min_logp, threshold
    s.node_cap = 3 * B + 1
    s.rec_cap = B * (1 + first_frames)
    s.nodes = <Node*> malloc(s.node_cap * sizeof(Node))
    s.recs = <Rec*> malloc(s.rec_cap * sizeof(Rec))
    s.cands = <Cand*> malloc(B * C * sizeof(Cand))
    s.beam = <int64_t*> malloc((3 * B + C) * sizeof(int64_t))
    s.pb = <double*> malloc((4 * B + 2 * C) * sizeof(double))
    if s.nodes == NULL or s.recs == NULL or s.cands == NULL or s.beam == NULL or s.pb == NULL:
        return -1
    s.heap = s.beam + 2 * B
    s.live = s.beam + 3 * B
    s.pnb = s.pb + 2 * B
    s.row = s.pb + 4 * B
    s.given = s.row + C
    s.nb = 0
    s.t = 0
    return 0


cdef inline void search_free(Search* s) noexcept nogil:
    free(s.nodes)
    free(s.recs)
    free(s.cands)
    free(s.beam)
    free(s.pb)
    s.nodes = NULL
    s.recs = NULL
    s.cands = NULL
    s.beam = NULL
    s.pb = NULL


cdef inline void search_begin(Search* s, int64_t bos_state) noexcept nogil:
    """The search before the first frame: the empty prefix alone, with probability 1."""
    cdef int64_t i
    cdef Node* root = &s.nodes[0]
    for i in range(1, s.node_cap):
        s.nodes[i].slot = FREE
        s.nodes[i].next_sibling = i + 1 if i + 1 < s.node_cap else -1
    s.free_node = 1 if s.node_cap > 1 else -1
    s.n_nodes = 1
    s.free_rec = -1
    s.n_recs = 0
    s.rec_end = 0
    root.rec = -1
    root.parent = -1
    root.top = -1
    root.gap = 0
    root.first_child = -1
    root.next_sibling = -1
    root.prev_sibling = -1
    root.n_children = 0
    root.lm_state = bos_state
    root.trie = 0
    root.slot = 0
    root.extra = 0.0
    root.lookahead = 0.0
    root.token = -1
    root.edge_token = -1
    s.beam[0] = 0
    s.pb[0] = 0.0
    s.pnb[0] = -INFINITY
    s.nb = 1
    s.t = 0


cdef inline void parent_snapshot(const Search* s, int64_t u, Cand* cand) noexcept nogil:
    """The frame and log-probability of node u's token, as an extension of u records them
    (G.)."""
    cdef int64_t r = s.nodes[u].rec
    if r < 0:
        cand.pframe = -1
        cand.plogp = 0.0
    else:
        cand.pframe = s.recs[r].frame
        cand.plogp = s.recs[r].logp


cdef inline int64_t hypothesis_length(const Search* s, int64_t u) noexcept nogil:
    cdef int64_t n = 0, r = s.nodes[u].rec
    while r >= 0:
        n += 1
        r = s.recs[r].up
    return n


cdef inline void read_hypothesis(const Search* s, int64_t u, int64_t* tokens,
                                 int64_t* frames, double* logps) noexcept nogil:
    """Node u's tokens, their frames (strictly increasing, G.) and their log-probabilities
    at those frames."""
    cdef int64_t d = hypothesis_length(s, u), r = s.nodes[u].rec, next_frame = -1
    cdef int64_t next_pframe = -1
    cdef double next_plogp = 0.0
    cdef const Rec* rec
    while r >= 0:
        d -= 1
        rec = &s.recs[r]
        tokens[d] = rec.token
        if next_frame < 0 or rec.frame < next_frame:
            frames[d] = rec.frame
            logps[d] = rec.logp
        elif next_pframe < next_frame:
            frames[d] = next_pframe
            logps[d] = next_plogp
        else:
            frames[d] = rec.first
            logps[d] = rec.first_logp
        next_frame = frames[d]
        next_pframe = rec.pframe
        next_plogp = rec.plogp
        r = rec.up
