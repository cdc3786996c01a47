# attack: make a symlink to a host file
# expect: error OSError /.*/
import os
os.symlink('/etc/passwd', '/tmp/link')
open('/tmp/link').read()
