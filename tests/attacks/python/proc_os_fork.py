# attack: fork the worker
# expect: error AttributeError /fork/
import os
os.fork()
