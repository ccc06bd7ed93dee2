"""References for the wildcard (star_penalty) and skips (skip_penalty), one sample at a time.

- ``brute_force_star_loss`` and ``brute_force_best`` enumerate every frame-level labelling over
  the C classes and the wildcard (``STAR``): the definitions themselves, with no lattice. A
  labelling fits the target when, runs merged and blanks and wildcards dropped, it gives the
  target (or, with skips, a subsequence of it: each label left out costs the skip penalty).
  A wildcard frame scores the penalty, whatever the frame holds.
- ``graph_viterbi`` and ``graph_star_loss`` run the recursions over an explicit list of arcs
  (every skip arc written out, O(S^2) of them), for cases too large to enumerate. They share
  no code with the kernels' scans, bands or masks; the tests check them against enumeration.
"""

import itertools

import numpy as np

STAR = -1


def logsumexp(x):
    x = np.asarray(x, dtype=np.float64)
    if x.size == 0:
        return -np.inf
    top = x.max()
    return top if not np.isfinite(top) else top + np.log(np.exp(x - top).sum())


def collapse(path, blank=0):
    """Runs merged, blanks and wildcards dropped."""
    return [k for k, _ in itertools.groupby(path) if k != blank and k != STAR]


def is_subsequence(short, long):
    it = iter(long)
    return all(any(x == y for y in it) for x in short)


def frame_scores(lp, path, star):
    """What each frame of a labelling scores."""
    return [star if k == STAR else lp[t, k] for t, k in enumerate(path)]


def labellings(T, C, star):
    symbols = list(range(C)) + ([STAR] if star is not None else [])
    return itertools.product(symbols, repeat=T)


def brute_force_best(lp, target, blank=0, star=None, skip=None):
    """The best score over labellings (with skips: plus skip per label left out) and the list of
    every labelling that reaches it (to within 1e-9)."""
    lp = np.asarray(lp, dtype=np.float64)
    T, C = lp.shape
    target = list(target)
    scored = []
    for path in labellings(T, C, star):
        kept = collapse(path, blank)
        if skip is None:
            if kept != target:
                continue
            extra = 0.0
        elif is_subsequence(kept, target):
            extra = skip * (len(target) - len(kept))
        else:
            continue
        scored.append((sum(frame_scores(lp, path, star)) + extra, path))
    best = max((s for s, _ in scored), default=-np.inf)
    if best == -np.inf:
        return best, []
    return best, [list(p) for s, p in scored if s >= best - 1e-9]


def brute_force_star_loss(lp, target, blank, star):
    """-ln p over labellings with the wildcard, and its gradient with respect to lp."""
    lp = np.asarray(lp, dtype=np.float64)
    T, C = lp.shape
    scores, uses = [], []
    for path in labellings(T, C, star):
        if collapse(path, blank) != list(target):
            continue
        scores.append(sum(frame_scores(lp, path, star)))
        use = np.zeros((T, C))
        for t, k in enumerate(path):
            if k != STAR:  # a wildcard frame depends on no class
                use[t, k] += 1
        uses.append(use)
    if not scores:
        return np.inf, np.zeros((T, C))
    log_p = logsumexp(scores)
    weights = np.exp(np.array(scores) - log_p)
    return -log_p, -np.einsum("p,ptc->tc", weights, np.array(uses))


def _graph(target, blank, star, skip):
    """States (their classes, STAR for a wildcard), arcs (src, dst, cost), start and end costs.

    Gap g holds a blank (and a wildcard), label i its own state; the states of a gap may follow
    each other in any order; skips go from any state of an earlier gap or label to a label state
    (a label to a label of another class only), costing skip per label jumped.
    """
    S = len(target)
    states, gap_states, label_state = [], [], []
    for g in range(S + 1):
        members = [len(states)]
        states.append(blank)
        if star is not None:
            members.append(len(states))
            states.append(STAR)
        gap_states.append(members)
        if g < S:
            label_state.append(len(states))
            states.append(target[g])
    arcs = [(s, s, 0.0) for s in range(len(states))]
    for g in range(S + 1):
        arcs += [(a, b, 0.0) for a in gap_states[g] for b in gap_states[g] if a != b]
        if g >= 1:  # from label g into gap g
            arcs += [(label_state[g - 1], b, 0.0) for b in gap_states[g]]
    for i in range(S):  # label state of target[i], 0-based
        arcs += [(a, label_state[i], 0.0) for a in gap_states[i]]
        if i >= 1 and target[i] != target[i - 1]:
            arcs.append((label_state[i - 1], label_state[i], 0.0))
        if skip is not None:
            for j in range(i):  # gap j, then labels j .. i - 1 left out
                arcs += [(a, label_state[i], skip * (i - j)) for a in gap_states[j]]
            for k in range(i - 1):  # label k, then labels k + 1 .. i - 1 left out
                if target[k] != target[i]:
                    arcs.append((label_state[k], label_state[i], skip * (i - k - 1)))
    start = np.full(len(states), -np.inf)
    end = np.full(len(states), -np.inf)
    start[gap_states[0]] = 0.0
    end[gap_states[S]] = 0.0
    for i in range(S):
        start[label_state[i]] = 0.0 if i == 0 else (skip * i if skip is not None else -np.inf)
        done = i + 1
        end[label_state[i]] = 0.0 if done == S else (skip * (S - done) if skip is not None
                                                      else -np.inf)
    if skip is not None:
        for g in range(S):
            end[gap_states[g]] = skip * (S - g)
    return states, arcs, start, end


def _emissions(lp, states, star):
    return np.stack([np.where(np.array(states) == STAR, star or 0.0,
                              lp[t, np.maximum(states, 0)]) for t in range(lp.shape[0])])


def graph_viterbi(lp, target, blank=0, star=None, skip=None):
    """The best score by max-plus over the explicit graph (no path)."""
    lp = np.asarray(lp, dtype=np.float64)
    if lp.shape[0] == 0:
        return 0.0 if len(target) == 0 else (skip * len(target) if skip is not None else -np.inf)
    states, arcs, start, end = _graph(list(target), blank, star, skip)
    y = _emissions(lp, states, star)
    delta = start + y[0]
    for t in range(1, lp.shape[0]):
        new = np.full(len(states), -np.inf)
        for a, b, cost in arcs:
            new[b] = max(new[b], delta[a] + cost)
        delta = new + y[t]
    return float(np.max(delta + end))


def graph_star_loss(lp, target, blank, star):
    """-ln p by the forward recursion in log space over the explicit graph (no skips)."""
    lp = np.asarray(lp, dtype=np.float64)
    states, arcs, start, end = _graph(list(target), blank, star, None)
    y = _emissions(lp, states, star)
    alpha = start + y[0]
    for t in range(1, lp.shape[0]):
        into = [[] for _ in states]
        for a, b, cost in arcs:
            into[b].append(alpha[a] + cost)
        alpha = np.array([logsumexp(v) for v in into]) + y[t]
    return -logsumexp(alpha + end)
