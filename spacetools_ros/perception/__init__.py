"""Classical perception on RGB-D frames: table plane fitting and object segmentation."""
