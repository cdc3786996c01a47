# attack: start a process pool
# expect: error ModuleNotFoundError /multiprocessing/
import multiprocessing
multiprocessing.Process(target=print).start()
