-- attack: an infinite instruction budget (int(inf) raised in the kernel: no reply)
-- expect: error UsageError /not a whole count/
-- magic: instructions inf
while true do end
