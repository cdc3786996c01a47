-- attack: a NaN wall-clock limit (NaN compares false with every deadline)
-- expect: error UsageError /not a number of seconds/
-- magic: timeout nan
while true do end
