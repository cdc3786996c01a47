# attack: replace the process image
# expect: error AttributeError /execv/
import os
os.execv('/bin/sh', ['sh'])
