-- attack: lift the output limit to 10 GB and flood
-- expect: error UsageError /%output can be at most 64M in this kernel.*max_output/
-- magic: output 10G
while true do print(('x'):rep(1e5)) end
