"""Write the embedded synthetic demo dataset: ``python tools/make_demo_dataset.py data/demo [--num-train N]``."""
from mmseg.datasets.demo import main

if __name__ == '__main__':
    main()
