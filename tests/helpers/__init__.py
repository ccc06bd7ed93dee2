"""What the tests share: independent references (a numpy CTC, brute force, finite
differences), the decoders' test cases, and a loader for the example scripts. Test modules
import from here, never from each other."""
