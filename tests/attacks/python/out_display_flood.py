# attack: display without end
# expect: error TimeLimitExceeded /time limit exceeded.*kept/
# magic: timeout 2
from IPython.display import display, HTML
while True:
    display(HTML('<b>x</b>'))
