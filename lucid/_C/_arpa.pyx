"""An ARPA file's n-gram sections, read from its bytes into the language model's tables;
the checks of tables read from lucid's own binary form.

Design note
-----------
A. Division of work. lucid/ctc/arpa.py reads the header (\\data\\ and the counts), checks
   each section's header line and size (scan_sections finds them), and words the errors; this
   file reads the n-gram lines of each section, straight from the file's bytes. A line ends
   at LF. It is blank if it holds only space, tab, VT, FF and CR (KenLM skips lines of C
   isspace()); its fields are split at space, tab and CR only (KenLM's kARPASpaces in
   lm/read_arpa.cc), so any other byte, a no-break space's included, belongs to a field. An
   n-gram line of order k is a log10 probability, k words and, below the highest order,
   optionally a log10 back-off weight.
B. Numbers must match  [+-]? (digits [. [digits]] | . digits) ([eE] [+-]? digits)?  (ASCII:
   no nan, inf, _ or other scripts' digits, which float() would take), and their value is
   float()'s, correctly rounded. Clinger's fast path covers what ARPA writers print: when the
   significant digits make an integer m <= 2**53 and the decimal exponent e has |e| <= 22,
   m and 10**|e| are exact doubles and m * 10**e (m / 10**-e) is one correctly rounded
   operation. Any other number goes to Python's own conversion (float() of the bytes), under
   the GIL, which the rest of the reading does without.
C. Words. The 1-gram section's words, numbered in file order, are the vocabulary. A hash table
   (open addressing, linear probing; each slot keeps the word's 64-bit hash, and a match is
   checked byte for byte) maps a word of a later section to its number.
D. Tables, as design note D. of _ctc_beam.pyx describes them: every n-gram below the highest
   order is a state (0 is the empty context, then order by order, in file order); the hash
   table maps key = state(w_1 .. w_k-1) * V + w_k to the n-gram's entry (entries in file
   order, order by order), with hash_find's hash and probing. An entry holds the ln-probability
   and the state that follows: the n-gram's own below the highest order, its longest proper
   suffix that is a state at the highest. A state holds its ln back-off weight and the state
   of its own longest proper suffix. Each line is placed as it is read:
   - its context's state, by walking the table from state 0 a word at a time; the walk of the
     previous line is reused for the words the two lines begin with (files are written
     sorted: usually only the last step is new). A context not found is an error;
   - its longest proper suffix state. Every n-gram's context is listed (checked by the walk,
     order by order), so where w_j .. w_k is listed, w_j .. w_k-1 is a state: a suffix of the
     context, and the context's suffixes that are states are exactly its back-off chain,
     longest first (backoff_state[c], backoff_state[that], ..., 0). The first state s on it
     for which (s, w_k) is listed gives the answer, that entry's state; usually the first.
   An n-gram whose key is already in the table is listed twice: an error.
E. Errors. The first line at fault ends the reading: read_section returns (what, line number,
   the line's byte offset, the field at fault) and arpa.py words the message from the line.
F. Batches. Placing a line takes a few reads at scattered places of tables much larger than
   the caches, each a wait on memory. So lines are parsed BATCH at a time and then placed a
   step at a time for the whole batch, the memory the next step of every line will read
   asked for (prefetched) before the first of them reads it: the waits overlap. Placing lines
   in turn within each step keeps the result, and the first line at fault, those of placing
   them one by one.
G. Memory. The arrays are sized from the sections' line counts, which arpa.py checks against
   the header before each section is read, so nothing grows (and a line beyond a section's
   count is refused before it is written: a check of the caller), and the hash table, at
   least twice as large as the n-gram count, never fills.
H. Tables that come from a file (NGramLM.load) rather than from this reader are checked by
   check_tables before the beam search sees them: every index within its array, a free
   slot in the hash table (so that a probe ends) and back-off states that decrease (so that
   the chain ends at state 0). Before that, checksum tells a damaged file: two running sums
   of 64-bit words, which run at the speed of memory where CRC-32 (zlib's) takes three times
   as long.
"""

import math

import numpy as np

from libc.stdint cimport int32_t, int64_t, uint64_t
from libc.string cimport memchr, memcmp, memcpy

from cpython.bytes cimport PyBytes_FromStringAndSize

from lucid._C._rows cimport FOR_READ, FOR_WRITE, prefetch

cdef enum:
    BATCH = 32  # lines parsed before they are placed (F.)


cdef struct Batch:
    # the parsed lines of a batch (F.): their line numbers and offsets, numbers, last words
    # and context states, then what place works out from them
    int64_t line[BATCH]
    int64_t pos[BATCH]
    double prob[BATCH]
    double backoff[BATCH]
    int64_t word[BATCH]
    int64_t context[BATCH]
    int64_t key[BATCH]
    int64_t home[BATCH]
    int64_t suffix[BATCH]
    int64_t found[BATCH]
    int64_t shared[BATCH]


cdef extern from *:
    """
    /* The hash of lucid/_C/_ctc_beam.pyx's hash_find: the key's home slot, before the mask. */
    #define LUCID_NGRAM_HOME(key) ((((uint64_t) (key)) * 0x9E3779B97F4A7C15ULL) >> 17)
    /* A 64-bit word read from a file's little-endian bytes, on any machine. */
    #if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    #define LUCID_LITTLE_ENDIAN(x) __builtin_bswap64(x)
    #else
    #define LUCID_LITTLE_ENDIAN(x) (x)
    #endif
    """
    uint64_t ngram_home "LUCID_NGRAM_HOME" (int64_t key) nogil
    uint64_t little_endian "LUCID_LITTLE_ENDIAN" (uint64_t x) nogil

# What read_section reports (E.), in the order a line is checked.
cdef enum:
    OK = 0
    FIELDS = 1          # not k + 1 or k + 2 fields
    TOP_BACKOFF = 2     # a back-off weight at the highest order
    NOT_DECIMAL = 3     # the field is not a decimal number (B.)
    BAD_PROB = 4        # a log10 probability above 0, below -FLT_MAX
    BAD_BACKOFF = 5     # a back-off weight beyond FLT_MAX
    LISTED_TWICE = 6    # a 1-gram's word, or an n-gram, seen before
    UNKNOWN_WORD = 7    # a word that is not a 1-gram
    NO_CONTEXT = 8      # an n-gram whose first k - 1 words are not listed

ERRORS = {"fields": FIELDS, "top_backoff": TOP_BACKOFF, "not_decimal": NOT_DECIMAL,
          "bad_prob": BAD_PROB, "bad_backoff": BAD_BACKOFF, "listed_twice": LISTED_TWICE,
          "unknown_word": UNKNOWN_WORD, "no_context": NO_CONTEXT}

cdef double LN10 = math.log(10.0)
cdef double LARGEST = 3.4028234663852886e+38  # FLT_MAX: KenLM keeps weights as float32
cdef double POW10[23]
for _e in range(23):
    POW10[_e] = 10.0 ** _e


cdef inline bint is_separator(unsigned char c) noexcept nogil:
    return c == 32 or c == 9 or c == 13


cdef inline bint is_blank(unsigned char c) noexcept nogil:
    return c == 32 or c == 9 or c == 13 or c == 11 or c == 12


cdef inline bint is_digit(unsigned char c) noexcept nogil:
    return 48 <= c <= 57


cdef struct WordSlot:
    # a slot of the vocabulary's hash table (C.): the word's hash, number (-1: a free slot),
    # length (17 for any longer than 16 bytes) and first 16 bytes, zero-padded, so that a
    # short word is found without reading the file's bytes
    uint64_t hash
    int32_t word
    int32_t length
    uint64_t head[2]


cdef inline uint64_t word_hash(const unsigned char* p, Py_ssize_t n, uint64_t* head) noexcept nogil:
    """A 64-bit hash of the n bytes at p, eight at a time; their first 16 bytes, zero-padded,
    in head[0..1]."""
    cdef uint64_t h = 0x243F6A8885A308D3ULL ^ <uint64_t> n, x
    cdef Py_ssize_t i = 0
    head[0] = head[1] = 0
    memcpy(head, p, n if n < 16 else 16)
    while n - i >= 8:
        memcpy(&x, p + i, 8)
        h = (h ^ x) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 32
        i += 8
    x = 0
    memcpy(&x, p + i, n - i)
    h = (h ^ x) * 0x9E3779B97F4A7C15ULL
    h ^= h >> 29
    h *= 0xBF58476D1CE4E5B9ULL
    return h ^ (h >> 32)


cdef bint parse_number(const unsigned char* p, const unsigned char* end, double* out) noexcept nogil:
    """The decimal number p[:end - p] in out (B.); False if it is not one."""
    cdef bint negative = False, fast = True, any_digit = False
    cdef uint64_t m = 0
    cdef int64_t e10 = 0, exponent = 0
    cdef int significant = 0, part = 0
    cdef bint negative_exponent
    cdef const unsigned char* start = p
    if p < end and (p[0] == 43 or p[0] == 45):  # + -
        negative = p[0] == 45
        p += 1
    while p < end:  # the digits, and a point between them (part 1: after it)
        if is_digit(p[0]):
            any_digit = True
            if significant < 19:
                m = m * 10 + (p[0] - 48)
                significant += m != 0
                e10 -= part
            else:  # a digit beyond what m holds: before the point, its place still counts
                e10 += 1 - part
                fast = False
        elif p[0] == 46 and part == 0:  # .
            part = 1
        else:
            break
        p += 1
    if not any_digit:
        return False
    if p < end and (p[0] == 101 or p[0] == 69):  # e E
        p += 1
        negative_exponent = False
        if p < end and (p[0] == 43 or p[0] == 45):
            negative_exponent = p[0] == 45
            p += 1
        if not (p < end and is_digit(p[0])):
            return False
        while p < end and is_digit(p[0]):
            if exponent < 1000000:  # beyond any double's range either way
                exponent = exponent * 10 + (p[0] - 48)
            p += 1
        e10 += -exponent if negative_exponent else exponent
    if p != end:
        return False
    if m == 0 and fast:
        out[0] = -0.0 if negative else 0.0
    elif fast and m <= (1ULL << 53) and -22 <= e10 <= 22:
        out[0] = <double> m * POW10[e10] if e10 >= 0 else <double> m / POW10[-e10]
        if negative:
            out[0] = -out[0]
    else:
        with gil:
            out[0] = float(PyBytes_FromStringAndSize(<const char*> start, end - start))
    return True


def scan_sections(const unsigned char[::1] data, Py_ssize_t start):
    """The lines from byte start (a line's first) on that begin with a backslash: their
    numbers (counted from start's line), their byte offsets and how many non-blank lines
    follow each before the next one or the end; and the number of lines from start on."""
    cdef Py_ssize_t n = data.shape[0], p = start, line_end
    cdef const unsigned char* d = &data[0] if n else NULL
    cdef const unsigned char* nl
    cdef int64_t line = 0, rows = 0
    marks, offsets, counts = [], [], []
    while p <= n:
        nl = <const unsigned char*> memchr(d + p, 10, n - p) if p < n else NULL
        line_end = nl - d if nl != NULL else n
        if p < n and d[p] == 92:  # a backslash
            if marks:
                counts.append(rows)
            marks.append(line)
            offsets.append(p)
            rows = 0
        else:
            while p < line_end and is_blank(d[p]):
                p += 1
            rows += p < line_end
        line += 1
        p = line_end + 1
    if marks:
        counts.append(rows)
    return marks, offsets, counts, line


cdef class Reader:
    """Reads the sections of one ARPA file in order (read_section), then hands over the
    tables (tables) and the vocabulary (vocabulary)."""
    cdef const unsigned char[::1] data
    cdef int order, next_order
    cdef object sizes
    # the vocabulary (C.)
    cdef int64_t n_listed, n_words, word_mask
    cdef WordSlot* word_slots
    cdef int64_t[::1] word_start, word_length
    # the tables (D.), and where each order's entries and states begin
    cdef int64_t mask
    cdef int64_t[::1] keys, vals, next_state, backoff_state, entry_start, state_start
    cdef double[::1] prob, backoff
    # one line's fields, words and context walk (D.)
    cdef int64_t[::1] field_start, field_end, batch_ids, walk_word, walk_state
    cdef int64_t n_fields, walked
    cdef object arrays

    def __init__(self, const unsigned char[::1] data, sizes):
        """data: the file's bytes; sizes: the number of n-gram lines of each order."""
        self.data = data
        self.sizes = [int(s) for s in sizes]
        self.order = len(self.sizes)
        self.next_order = 1
        V = self.sizes[0] + 1  # room for <unk>
        self.word_mask = table_size(V) - 1
        slots = np.zeros((self.word_mask + 1, sizeof(WordSlot) // 8), dtype=np.uint64)
        self.arrays = {"word_slots": slots}  # kept alive here, used through word_slots
        slots.view(np.int32)[:, 2] = -1  # every slot's word: free
        cdef uint64_t[:, ::1] view = slots
        self.word_slots = <WordSlot*> &view[0, 0]
        self.word_start = np.zeros(V, dtype=np.int64)
        self.word_length = np.zeros(V, dtype=np.int64)
        n_entries = V + sum(self.sizes[1:])
        n_states = 1 + (V + sum(self.sizes[1:self.order - 1]) if self.order > 1 else 0)
        self.arrays.update(prob=np.zeros(n_entries), next_state=np.zeros(n_entries, np.int64),
                           backoff=np.zeros(n_states), backoff_state=np.zeros(n_states, np.int64))
        self.prob, self.next_state = self.arrays["prob"], self.arrays["next_state"]
        self.backoff, self.backoff_state = self.arrays["backoff"], self.arrays["backoff_state"]
        self.entry_start = np.zeros(self.order + 2, dtype=np.int64)
        self.state_start = np.zeros(self.order + 2, dtype=np.int64)
        self.field_start = np.zeros(self.order + 3, dtype=np.int64)  # up to k + 3 fields
        self.field_end = np.zeros(self.order + 3, dtype=np.int64)
        self.batch_ids = np.zeros(BATCH * self.order, dtype=np.int64)
        self.walk_word = np.zeros(self.order, dtype=np.int64)
        self.walk_state = np.zeros(self.order, dtype=np.int64)
        self.walked = 0

    def read_section(self, int k, Py_ssize_t start, Py_ssize_t end, int64_t first_line):
        """Read the k-gram lines in data[start:end], the first being line first_line
        (0-based) of the file: None, or (what, line, its offset, field) at the first line at
        fault (E.)."""
        cdef int64_t where[3]
        cdef int64_t capacity
        cdef int what
        if k != self.next_order or not 0 <= start <= end <= self.data.shape[0]:
            raise ValueError(f"read_section: expected order {self.next_order} within the "
                             f"data, got order {k} at bytes {start}..{end}")
        capacity = self.sizes[k - 1]
        with nogil:
            what = self.read_lines(k, start, end, first_line, capacity, where)
        if what != OK:
            return what, where[0], where[1], where[2]
        if what == OK and where[2] != self.sizes[k - 1]:
            raise ValueError(f"read_section: the section has {where[2]} lines, not the "
                             f"{self.sizes[k - 1]} checked")
        if k == 1:
            self.close_vocabulary()
        self.next_order += 1
        return None

    cdef int read_lines(self, int k, Py_ssize_t start, Py_ssize_t end, int64_t line,
                        int64_t capacity, int64_t* where) noexcept nogil:
        """read_section's loop, a batch of lines at a time (F.): where gets (line, offset,
        field) at fault, or the count of lines read in where[2]."""
        cdef const unsigned char* d = &self.data[0] if self.data.shape[0] else NULL
        cdef const unsigned char* nl
        cdef Py_ssize_t p = start, line_end
        cdef int64_t row = 0, i, n
        cdef int what = OK, placed
        cdef Batch b
        while p < end and what == OK:
            n = 0
            while n < BATCH and p < end:
                nl = <const unsigned char*> memchr(d + p, 10, end - p)
                line_end = nl - d if nl != NULL else end
                if not self.split(p, line_end, k):
                    if row + n == capacity:  # more lines than arpa.py counted: write nothing
                        where[2] = capacity + 1
                        return OK
                    b.line[n], b.pos[n] = line, p
                    what = self.parse(k, row + n, &b, n, &where[2])
                    if what != OK:
                        break
                    n += 1
                line += 1
                p = line_end + 1
            if k > 1:
                i = self.place(k, row, &b, n, &placed)
                if i < n:  # an earlier line than a fault the parse found
                    where[0], where[1], where[2] = b.line[i], b.pos[i], -1
                    return placed
            row += n
        if what != OK:
            where[0], where[1] = line, p
            return what
        where[2] = row
        return OK

    cdef bint split(self, Py_ssize_t p, Py_ssize_t line_end, int k) noexcept nogil:
        """Split the line data[p:line_end] into fields (up to k + 3: enough to tell it has
        too many), in field_start / field_end / n_fields; True if the line is blank."""
        cdef const unsigned char* d = &self.data[0]
        cdef Py_ssize_t q = p
        while q < line_end and is_blank(d[q]):
            q += 1
        if q == line_end:
            return True
        self.n_fields = 0
        while self.n_fields <= k + 2:
            while q < line_end and is_separator(d[q]):
                q += 1
            if q == line_end:
                break
            self.field_start[self.n_fields] = q
            while q < line_end and not is_separator(d[q]):
                q += 1
            self.field_end[self.n_fields] = q
            self.n_fields += 1
        return False

    cdef int parse(self, int k, int64_t row, Batch* b, int64_t i, int64_t* field) noexcept nogil:
        """Check the fields of k-gram line row; a 1-gram is numbered and stored at once, a
        longer n-gram's numbers and word numbers go to line i of the batch."""
        cdef const unsigned char* d = &self.data[0]
        cdef double prob, backoff = 0.0
        cdef int64_t j, word
        cdef bint top = k == self.order
        field[0] = -1
        if self.n_fields != k + 1 and self.n_fields != k + 2:
            return FIELDS
        if self.n_fields == k + 2 and top:
            return TOP_BACKOFF
        field[0] = 0
        if not parse_number(d + self.field_start[0], d + self.field_end[0], &prob):
            return NOT_DECIMAL
        if not (prob <= 0 and prob >= -LARGEST):
            return BAD_PROB
        if self.n_fields == k + 2:
            field[0] = k + 1
            if not parse_number(d + self.field_start[k + 1], d + self.field_end[k + 1], &backoff):
                return NOT_DECIMAL
            if not (backoff <= LARGEST and backoff >= -LARGEST):
                return BAD_BACKOFF
        if k == 1:
            field[0] = 1
            if not self.add_word(row):
                return LISTED_TWICE
            self.prob[row] = prob * LN10
            if not top:
                self.backoff[1 + row] = backoff * LN10
            return OK
        for j in range(k):
            field[0] = 1 + j
            word = self.find_word(self.field_start[1 + j], self.field_end[1 + j])
            if word < 0:
                return UNKNOWN_WORD
            self.batch_ids[i * k + j] = word
        b.prob[i] = prob * LN10
        b.backoff[i] = backoff * LN10
        b.word[i] = self.batch_ids[i * k + k - 1]
        return OK

    cdef int64_t place(self, int k, int64_t row, Batch* b, int64_t n, int* what) noexcept nogil:
        """Put the batch's n k-grams, from line row of the section on, in the tables (D.),
        each step for all lines before the next (F.). The first line at fault (what it is
        in what), or n."""
        cdef int64_t i, suffix, state, entry = self.entry_start[k] + row
        cdef uint64_t mask = <uint64_t> self.mask
        n = self.walk(k, b, n, what)
        for i in range(n):
            b.key[i] = b.context[i] * self.n_words + b.word[i]
            b.home[i] = <int64_t> (ngram_home(b.key[i]) & mask)
            prefetch(&self.keys[b.home[i]], FOR_WRITE)
            prefetch(&self.vals[b.home[i]], FOR_WRITE)
            prefetch(&self.backoff_state[b.context[i]], FOR_READ)
        for i in range(n):  # the first step down the context's back-off chain
            b.suffix[i] = self.backoff_state[b.context[i]]
            b.home[i] = <int64_t> (ngram_home(b.suffix[i] * self.n_words + b.word[i]) & mask)
            prefetch(&self.keys[b.home[i]], FOR_READ)
            prefetch(&self.vals[b.home[i]], FOR_READ)
        for i in range(n):
            if not self.insert(b.key[i], entry + i):
                what[0] = LISTED_TWICE
                return i
            b.found[i] = self.find(b.suffix[i], b.word[i])
            if b.found[i] >= 0:
                prefetch(&self.next_state[b.found[i]], FOR_READ)
        for i in range(n):
            if b.found[i] >= 0:
                suffix = self.next_state[b.found[i]]
            else:
                suffix = self.longest_suffix(b.suffix[i], b.word[i])
            self.prob[entry + i] = b.prob[i]
            if k == self.order:
                self.next_state[entry + i] = suffix
            else:
                state = self.state_start[k] + row + i
                self.next_state[entry + i] = state
                self.backoff[state] = b.backoff[i]
                self.backoff_state[state] = suffix
        return n

    cdef int64_t walk(self, int k, Batch* b, int64_t n, int* what) noexcept nogil:
        """The state of each line's context (its first k - 1 words) in b.context, found by
        walking from state 0 a word at a time, a step for all lines before the next (F.); a
        line that begins with the same words as the line before takes that line's states
        for them (D.). The first line whose context is not listed (what: NO_CONTEXT), or n."""
        cdef int64_t i, j, e
        cdef uint64_t mask = <uint64_t> self.mask
        cdef const int64_t* ids = &self.batch_ids[0]
        if n == 0:
            return 0
        for i in range(n):  # how many words it shares with the line before
            j = 0
            if i == 0:
                while j < self.walked and j < k - 1 and self.walk_word[j] == ids[j]:
                    j += 1
            else:
                while j < k - 1 and ids[(i - 1) * k + j] == ids[i * k + j]:
                    j += 1
            b.shared[i] = j
            b.context[i] = 0
        for j in range(k - 1):
            for i in range(n):
                if j >= b.shared[i]:
                    b.home[i] = <int64_t> (ngram_home(b.context[i] * self.n_words
                                                      + ids[i * k + j]) & mask)
                    prefetch(&self.keys[b.home[i]], FOR_READ)
                    prefetch(&self.vals[b.home[i]], FOR_READ)
            for i in range(n):
                if j < b.shared[i]:
                    b.context[i] = self.walk_state[j] if i == 0 else b.context[i - 1]
                else:
                    e = self.find(b.context[i], ids[i * k + j])
                    if e < 0:
                        what[0] = NO_CONTEXT
                        n = i
                        break
                    b.context[i] = self.next_state[e]
            if n > 0:
                self.walk_state[j] = b.context[n - 1]
        self.walked = k - 1 if n > 0 else 0
        for j in range(self.walked):
            self.walk_word[j] = ids[(n - 1) * k + j]
        return n

    cdef int64_t longest_suffix(self, int64_t state, int64_t word) noexcept nogil:
        """Down the back-off chain from state, whose n-gram (state, word) is not listed: the
        state of the first (state', word) that is (D.), or 0."""
        cdef int64_t e
        while state != 0:
            state = self.backoff_state[state]
            e = self.find(state, word)
            if e >= 0:
                return self.next_state[e]
        return 0

    cdef bint add_word(self, int64_t row) noexcept nogil:
        """Number the word of 1-gram line row (its field 1) row; False if it is listed."""
        cdef Py_ssize_t start = self.field_start[1], n = self.field_end[1] - start
        cdef WordSlot* slot = self.word_slot(&self.data[start], n)
        if slot.word >= 0:
            return False
        slot.word = <int32_t> row
        self.word_start[row] = start
        self.word_length[row] = n
        return True

    cdef int64_t find_word(self, Py_ssize_t start, Py_ssize_t end) noexcept nogil:
        """The number of the word data[start:end], or -1."""
        return self.word_slot(&self.data[start], end - start).word

    cdef WordSlot* word_slot(self, const unsigned char* p, Py_ssize_t n) noexcept nogil:
        """The slot of the n-byte word at p: its own, or the free one it would take (C.)."""
        cdef uint64_t head[2]
        cdef uint64_t h = word_hash(p, n, head)
        cdef int32_t length = <int32_t> (n if n <= 16 else 17)
        cdef int64_t i = <int64_t> (h & <uint64_t> self.word_mask)
        cdef WordSlot* slot = &self.word_slots[i]
        while slot.word >= 0:
            if slot.hash == h and slot.length == length and (
                    slot.head[0] == head[0] and slot.head[1] == head[1] if n <= 16 else
                    self.word_length[slot.word] == n and memcmp(
                        &self.data[self.word_start[slot.word]], p, n) == 0):
                return slot
            i = (i + 1) & self.word_mask
            slot = &self.word_slots[i]
        slot.hash, slot.length, slot.head[0], slot.head[1] = h, length, head[0], head[1]
        return slot

    cdef int64_t find(self, int64_t state, int64_t word) noexcept nogil:
        """hash_find of _ctc_beam.pyx: the entry of n-gram (state, word), or -1."""
        cdef int64_t key = state * self.n_words + word
        cdef int64_t i = <int64_t> (ngram_home(key) & <uint64_t> self.mask)
        while self.keys[i] != -1:
            if self.keys[i] == key:
                return self.vals[i]
            i = (i + 1) & self.mask
        return -1

    cdef bint insert(self, int64_t key, int64_t entry) noexcept nogil:
        """Put key -> entry in the table; False if key is there already."""
        cdef int64_t i = <int64_t> (ngram_home(key) & <uint64_t> self.mask)
        while self.keys[i] != -1:
            if self.keys[i] == key:
                return False
            i = (i + 1) & self.mask
        self.keys[i] = key
        self.vals[i] = entry
        return True

    cdef close_vocabulary(self):
        """After the 1-gram section: <unk> added if the file does not list it (log10
        probability -100, KenLM's), the entries and states of each order placed, the hash
        table made and the 1-grams put in it."""
        cdef int64_t w, k
        cdef bint top = self.order == 1
        self.n_listed = self.sizes[0]
        self.n_words = self.n_listed + (self.word_number(b"<unk>") < 0)
        if self.n_words > self.n_listed:
            self.prob[self.n_listed] = -100.0 * LN10
        self.entry_start[1] = 0
        self.entry_start[2] = self.n_words
        self.state_start[1] = 1
        self.state_start[2] = 1 + self.n_words
        for k in range(2, self.order + 1):
            self.entry_start[k + 1] = self.entry_start[k] + self.sizes[k - 1]
            self.state_start[k + 1] = self.state_start[k] + self.sizes[k - 1]
        n_entries = self.entry_start[self.order + 1]
        self.arrays["keys"] = np.full(table_size(n_entries), -1, dtype=np.int64)
        self.arrays["vals"] = np.full(table_size(n_entries), -1, dtype=np.int64)
        self.keys, self.vals = self.arrays["keys"], self.arrays["vals"]
        self.mask = self.keys.shape[0] - 1
        for w in range(self.n_words):
            self.insert(w, w)
            self.next_state[w] = 0 if top else 1 + w

    def word_number(self, bytes word):
        """The number of a 1-gram's word, given as bytes; -1 if it is not one."""
        return self.word_slot(<const unsigned char*> <char*> word, len(word)).word

    def vocabulary(self):
        """The 1-grams' words, in file order (decoded in one piece: joined by LF, which no
        word holds)."""
        cdef int64_t w, total = 0, at = 0
        for w in range(self.n_listed):
            total += self.word_length[w] + 1
        out = bytearray(max(total - 1, 0))
        cdef unsigned char[::1] view = out
        for w in range(self.n_listed):
            if w:
                view[at] = 10
                at += 1
            if self.word_length[w]:
                memcpy(&view[at], &self.data[self.word_start[w]], self.word_length[w])
            at += self.word_length[w]
        return out.decode("utf-8").split("\n") if self.n_listed else []

    def tables(self):
        """The arrays of the tables (D.), once every section is read, and the word count."""
        if self.next_order != self.order + 1:
            raise ValueError(f"tables: order {self.next_order} of {self.order} is unread")
        n_entries = self.entry_start[self.order + 1]
        n_states = self.state_start[self.order] if self.order > 1 else 1
        a = self.arrays
        return {"keys": a["keys"], "vals": a["vals"], "n_words": int(self.n_words),
                "prob": a["prob"][:n_entries], "next_state": a["next_state"][:n_entries],
                "backoff": a["backoff"][:n_states],
                "backoff_state": a["backoff_state"][:n_states]}


def table_size(n):
    """Slots of a hash table for n keys: the smallest power of two >= 2 n, at least 2."""
    size = 2
    while size < 2 * n:
        size *= 2
    return size


def check_tables(const int64_t[::1] keys, const int64_t[::1] vals,
                 const int64_t[::1] next_state, const int64_t[::1] backoff_state):
    """For tables that come from a file (NGramLM.load), the checks that keep the beam search
    within its arrays and out of endless loops (H.): 0 if all hold, else the number of the
    first that fails: 1 no free slot in the hash table (or a key below -1), 2 an entry out of
    range, 3 a next state out of range, 4 a back-off state not below its own (the chain must
    end at state 0). Each is a pass without branches (it vectorises) with a flag of its own."""
    cdef Py_ssize_t i, n_entries = next_state.shape[0], n_states = backoff_state.shape[0]
    cdef Py_ssize_t free = 0
    cdef bint bad_key = False, bad_entry = False, bad_next = False, bad_backoff = False
    if keys.shape[0] != vals.shape[0] or n_states == 0:
        raise ValueError("check_tables: expected keys and vals of one length and a state")
    with nogil:
        for i in range(keys.shape[0]):
            free += keys[i] == -1
            bad_key |= keys[i] < -1
            # an unsigned comparison is both bounds at once
            bad_entry |= (keys[i] != -1) & (<uint64_t> vals[i] >= <uint64_t> n_entries)
        for i in range(n_entries):
            bad_next |= <uint64_t> next_state[i] >= <uint64_t> n_states
        bad_backoff = backoff_state[0] != 0
        for i in range(1, n_states):
            bad_backoff |= <uint64_t> backoff_state[i] >= <uint64_t> i
    if bad_key or free == 0:
        return 1
    return 2 if bad_entry else 3 if bad_next else 4 if bad_backoff else 0


def checksum(const unsigned char[::1] data):
    """A 64-bit checksum of data for lucid's binary form (H.): Fletcher's two running sums
    (modulo 2**64) over its little-endian 64-bit words, in four interleaved lanes so that the
    additions vectorise, then mixed with the length. A changed byte changes a sum; a moved
    block changes the second. It guards against damage, not against forgery: the checks do."""
    cdef Py_ssize_t n = data.shape[0], i, blocks = n // 32
    cdef uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, b0 = 0, b1 = 0, b2 = 0, b3 = 0
    cdef uint64_t x[4]
    cdef uint64_t sums[8]
    cdef uint64_t h = 0x243F6A8885A308D3ULL ^ <uint64_t> n
    cdef const unsigned char* p = &data[0] if n else NULL
    with nogil:
        for i in range(blocks + (n % 32 != 0)):
            if i == blocks:  # the last bytes, zero-padded to a block
                x[0] = x[1] = x[2] = x[3] = 0
                memcpy(x, p + 32 * i, n - 32 * i)
            else:
                memcpy(x, p + 32 * i, 32)
            a0 += little_endian(x[0])
            a1 += little_endian(x[1])
            a2 += little_endian(x[2])
            a3 += little_endian(x[3])
            b0 += a0
            b1 += a1
            b2 += a2
            b3 += a3
    sums[:] = [a0, b0, a1, b1, a2, b2, a3, b3]
    for i in range(8):
        h = (h ^ sums[i]) * 0x9E3779B97F4A7C15ULL
        h ^= h >> 31
    return h
