# attack: end the interpreter with os._exit
# expect: error WorkerCrashed /stopped unexpectedly/
# state: lost
import os
os._exit(3)
