"""CTC forced alignment (Viterbi): placeholder until it lands."""
