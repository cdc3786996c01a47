-- attack: a NaN output limit (int(nan) raised in the kernel: no reply)
-- expect: error UsageError /size must be positive/
-- magic: output nan
while true do print('x') end
