# attack: read the host's environment
# expect: value {}
import os
dict(os.environ)
