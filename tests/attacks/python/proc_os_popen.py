# attack: open a pipe to a shell
# expect: error OSError /.*/
import os
os.popen('id').read()
