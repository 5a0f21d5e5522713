"""Pix2PixModel: the generator, discriminator and encoder with their losses, behind one forward(data, mode)."""
import argparse
from typing import Any, Dict, List, Optional, Tuple

import torch

import models.networks as networks
from util.checkpoint import CheckpointStore, cpu_state_dict
from util.device import configure_cpu_allocator, select_device
from util.distributed import launched_rank
from util.errors import UserError
from .inputs import autocast, one_hot_semantics, reparameterize
from .spec import build_networks, runtime_from_options, spec_from_options


class Pix2PixModel(torch.nn.Module):
    def __init__(self, opt: argparse.Namespace):
        """The networks of the options' spec (resuming, the options come back from the run's opt.json), with
        fresh weights: `load` reads a checkpoint into them."""
        super().__init__()
        self.opt = opt
        self.store = CheckpointStore.of(opt)
        self.device = select_device(opt.gpu_ids, announce=launched_rank() == 0)
        if self.device.type == 'cpu':
            configure_cpu_allocator(opt.cpu_allocator)
        if opt.output_nc not in (1, 3):
            raise UserError(f'--output_nc {opt.output_nc}: images have 3 (colour) or 1 (grey) channels')
        self.spec = spec_from_options(opt)
        nets = build_networks(self.spec, self.device, runtime_from_options(opt), 'GDE' if opt.isTrain else 'GE',
                              init=(opt.init_type, opt.init_variance), source=self.store.networks_path())
        self.netG, self.netD, self.netE = nets['G'], nets.get('D'), nets['E']
        self.amp = opt.amp
        self.loaded_from = f'{self.store.folder} (fresh weights)'  # the generator's file, once one is loaded
        if opt.isTrain:
            self.criterionGAN = networks.GANLoss(opt.gan_mode)
            self.criterionFeat = torch.nn.L1Loss()
            if not opt.no_vgg_loss:
                self.criterionVGG = networks.VGGLoss(opt.vgg_weights).to(self.device)
            if opt.use_vae:
                self.KLDLoss = networks.KLDLoss()

    # One entry point, so that DataParallel / DistributedDataParallel wrap every use of the networks.
    def autocast(self):
        return autocast(self.device, self.amp)

    def forward(self, data: Dict[str, torch.Tensor], mode: str):
        input_semantics, real_image = self.preprocess_input(data)
        with self.autocast():
            return self.compute(input_semantics, real_image, mode)

    def compute(self, input_semantics: torch.Tensor, real_image: torch.Tensor, mode: str):
        if mode == 'generator':
            return self.compute_generator_loss(input_semantics, real_image)
        if mode == 'discriminator':
            return self.compute_discriminator_loss(input_semantics, real_image)
        raise ValueError(f"mode '{mode}' is not one of generator, discriminator (synthesis: models.synthesizer)")

    def create_optimizers(self, opt: argparse.Namespace) -> Tuple[torch.optim.Optimizer, torch.optim.Optimizer]:
        G_params = list(self.netG.parameters())
        if opt.use_vae:
            G_params += list(self.netE.parameters())
        if opt.no_TTUR:
            betas, G_lr, D_lr = (opt.beta1, opt.beta2), opt.lr, opt.lr
        else:  # two time-scale update rule, as the reference: fixed betas, G at lr/2, D at 2*lr
            betas, G_lr, D_lr = (0.0, 0.9), opt.lr / 2, opt.lr * 2
        # The fused kernel is ~10x faster than the per-tensor loop on CPU; results agree to an ulp or two.
        optimizer_G = torch.optim.Adam(G_params, lr=G_lr, betas=betas, fused=True)
        optimizer_D = torch.optim.Adam(list(self.netD.parameters()), lr=D_lr, betas=betas, fused=True)
        return optimizer_G, optimizer_D

    def networks_by_label(self) -> Dict[str, torch.nn.Module]:
        nets = {'G': self.netG, 'D': self.netD, 'E': self.netE}
        return {label: net for label, net in nets.items() if net is not None}

    def state_dicts(self) -> Dict[str, Dict[str, torch.Tensor]]:
        """{label: state_dict on the CPU} of G, D and E, as saved in <epoch>_net_<label>.pth."""
        return {label: cpu_state_dict(net) for label, net in self.networks_by_label().items()}

    def spec_at(self, epoch) -> Dict[str, Any]:
        """What networks.json records when `epoch` is saved: the model's spec and where it comes from."""
        return {**self.spec, 'provenance': {**self.spec.get('provenance', {}), 'epoch': str(epoch)}}

    def load(self, epoch, use_ema: bool = False) -> 'Pix2PixModel':
        """Read <epoch>_net_{G (G_ema with `use_ema`),D,E}.pth into the networks, strictly."""
        generator = 'G_ema' if use_ema else 'G'
        for label, net in ((generator, self.netG), ('D', self.netD), ('E', self.netE)):
            if net is not None:
                self.store.load_network(net, label, epoch)
        self.loaded_from = self.store.network_path(epoch, generator)
        return self

    def preprocess_input(self, data: Dict[str, torch.Tensor]) -> Tuple[torch.Tensor, torch.Tensor]:
        """One-hot label map (with the don't-care channel when present), plus the instance edge map."""
        instance = None if self.opt.no_instance else data['instance'].to(self.device)
        return one_hot_semantics(data['label'].to(self.device), instance, self.opt.num_labels), data['image'].to(self.device)

    def compute_generator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        G_losses = {}
        fake_image, KLD_loss = self.generate_fake(input_semantics, real_image, compute_kld_loss=self.opt.use_vae)
        if self.opt.use_vae:
            G_losses['KLD'] = KLD_loss
        feat_fake, pred_fake, feat_real, _ = self.discriminate(input_semantics, fake_image, real_image)
        if not self.opt.no_ganFeat_loss:
            # Averaged over the discriminator's scales (FPSE: each feature is a scale; multi-scale: each PatchGAN).
            scales = self.netD.feature_matching_scales
            G_losses['GAN_Feat'] = sum(self.criterionFeat(fake, real.detach()) * self.opt.lambda_feat / scales
                                       for fake, real in zip(feat_fake, feat_real))
        G_losses['GAN'] = self.criterionGAN(pred_fake, True, for_discriminator=False)
        if not self.opt.no_vgg_loss:
            G_losses['VGG'] = self.criterionVGG(fake_image, real_image) * self.opt.lambda_vgg
        return G_losses, fake_image

    def compute_discriminator_loss(self, input_semantics: torch.Tensor, real_image: torch.Tensor):
        with torch.no_grad():
            fake_image, _ = self.generate_fake(input_semantics, real_image)
        _, pred_fake, _, pred_real = self.discriminate(input_semantics, fake_image.detach(), real_image)
        return {'D_Fake': self.criterionGAN(pred_fake, False, for_discriminator=True),
                'D_real': self.criterionGAN(pred_real, True, for_discriminator=True)}

    def encode_z(self, real_image: torch.Tensor):
        mu, logvar = self.netE(real_image)
        return reparameterize(mu, logvar), mu, logvar

    def generate_fake(self, input_semantics: torch.Tensor, real_image: torch.Tensor, compute_kld_loss: bool = False):
        z, KLD_loss = None, None
        if self.opt.use_vae:
            # As the reference, the style comes from the real image, at test time too.
            z, mu, logvar = self.encode_z(real_image)
            if compute_kld_loss:
                KLD_loss = self.KLDLoss(mu, logvar) * self.opt.lambda_kld
        return self.netG(input_semantics, z=z), KLD_loss

    def discriminate(self, input_semantics: torch.Tensor, fake_image: torch.Tensor, real_image: torch.Tensor):
        """Fake and real go through D as one batch (one set of instance-norm statistics each, as the reference)."""
        features, logits = self.netD(torch.cat([fake_image, real_image], dim=0),
                                     torch.cat([input_semantics, input_semantics], dim=0))
        fake_feats, real_feats = self.divide_pred(features)
        fake_preds, real_preds = self.divide_pred(logits)
        return fake_feats, fake_preds, real_feats, real_preds

    @staticmethod
    def divide_pred(tensors: List[torch.Tensor]) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        halves = [t.chunk(2, dim=0) for t in tensors]
        return [h[0] for h in halves], [h[1] for h in halves]
