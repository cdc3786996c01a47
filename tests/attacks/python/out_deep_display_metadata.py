# attack: a display whose metadata nests 90 levels (deeper than the guest's C stack and the wire allow)
# expect: ok
# next: 6 * 7 => 42
from IPython.display import display
meta = {}
for _ in range(90):
    meta = {'a': meta}
display({'text/plain': 'x'}, raw=True, metadata={'text/plain': meta})
