# attack: print without end
# expect: error OutputLimitExceeded /output limit exceeded/
# magic: output 64K
while True:
    print('x' * 1000)
