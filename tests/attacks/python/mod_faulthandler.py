# attack: crash the guest through faulthandler
# expect: error ModuleNotFoundError /faulthandler/
import faulthandler
faulthandler._sigsegv()
