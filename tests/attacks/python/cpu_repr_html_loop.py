# attack: an endless loop in _repr_html_
# expect: error TimeLimitExceeded /time limit exceeded/
# magic: timeout 1
class R:
    def _repr_html_(self):
        while True:
            pass
R()
