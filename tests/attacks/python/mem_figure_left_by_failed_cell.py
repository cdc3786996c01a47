# attack: a cell fails after opening a figure too large to draw (the end of the next cell drew it and failed)
# expect: error ModuleNotFoundError /matplotlib/
# next: 2 + 2 => 4
import matplotlib.pyplot as plt
plt.figure(figsize=(300, 300), dpi=100)
raise ValueError('after the figure')
