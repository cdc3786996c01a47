# attack: one enormous print
# expect: error OutputLimitExceeded /output limit exceeded/
# magic: output 64K
print('y' * 10_000_000)
