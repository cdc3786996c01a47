# attack: display without end (the kernel's message count stops it, not the clock)
# expect: error OutputLimitExceeded /more than 10,000 outputs.*kept/
# magic: timeout 60
from IPython.display import display, HTML
while True:
    display(HTML('<b>x</b>'))
