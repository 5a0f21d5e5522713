"""pix2pix: the reference's --model value, the objective of SPADE and CC-FPSE (hinge GAN, discriminator feature
matching, VGG and, with --use_vae, KL; Adam with the two time-scale update rule). Its networks are the shared ones
of models/networks (--netG condconv | spade, --netD fpse | multiscale, the VAE encoder); its options are the
reference's, declared in options/."""
import os

from models.method_registry import Method, register

CC_FPSE = ('Liu, Yin, Shao, Wang, Li: "Learning to Predict Layout-to-image Conditional Convolutions for Semantic '
           'Image Synthesis", NeurIPS 2019 (the authors\' code: xh-liu/CC-FPSE)')
SPADE = ('Park, Liu, Wang, Zhu: "Semantic Image Synthesis with Spatially-Adaptive Normalization", CVPR 2019 '
         '(NVlabs/SPADE)')

register(Method(
    name='pix2pix',
    summary="the reference's value: the hinge GAN, feature-matching, VGG and KL losses of SPADE and CC-FPSE",
    papers={'condconv': CC_FPSE, 'spade': SPADE},
    objective='models.methods.pix2pix.objective:Pix2PixModel',
    discriminators=('fpse', 'multiscale'),
    folder=os.path.dirname(os.path.abspath(__file__)),
    style_encoder=True,
    hub_entries={
        'ccfpse_coco': ('coco', "CC-FPSE trained on COCO-Stuff (the authors' test_coco.sh)"),
        'ccfpse_ade20k': ('ade20k', "CC-FPSE trained on ADE20K (the authors' test_ade.sh)"),
        'ccfpse_cityscapes': ('cityscapes', "CC-FPSE trained on Cityscapes (the authors' test_cityscapes.sh)"),
        'spade_coco': ('spade_coco', "SPADE's coco_pretrained (NVlabs/SPADE)"),
        'spade_ade20k': ('spade_ade20k', "SPADE's ade20k_pretrained (NVlabs/SPADE)"),
        'spade_cityscapes': ('spade_cityscapes', "SPADE's cityscapes_pretrained (NVlabs/SPADE)"),
    },
))
