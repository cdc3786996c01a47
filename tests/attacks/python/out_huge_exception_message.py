# attack: an exception whose message is 20 MB (past the host's frame cap: the error must not be lost)
# expect: error ValueError /^x{1000}/
raise ValueError('x' * 20_000_000)
