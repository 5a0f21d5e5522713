"""The model (`--model pix2pix`: Pix2PixModel), its networks, the synthesis API and the evaluation segmenters."""
