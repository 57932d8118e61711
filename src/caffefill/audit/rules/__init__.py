"""The audit's rules, one per module; :data:`RULES` lists them in code order.

Codes never change meaning: CF1xx are errors (Caffe aborts, or the net
cannot learn), CF2xx warnings, CF3xx information.  CF000 is reserved for
the audit's own notes (rules it had to skip).
"""

from __future__ import annotations

from ..rule import Rule
from .bilinear_bad_kernel import BilinearBadKernel
from .bilinear_geometry import BilinearGeometry
from .bilinear_misuse import BilinearMisuse
from .bilinear_profile import BilinearProfile
from .caffe_aborts import CaffeAborts
from .constant_weights import ConstantWeights
from .default_unit_std import DefaultUnitStd
from .frozen_random_filler import FrozenRandomFiller
from .gradient_scale import GradientScale
from .ignored_filler_field import IgnoredFillerField
from .legacy_axes_fill import LegacyAxesFill
from .legacy_syntax import LegacySyntax
from .missing_weight_filler import MissingWeightFiller
from .msra_before_saturating import MsraBeforeSaturating
from .nd_fans_profile import NdFansProfile
from .nonpositive_std import NonpositiveStd
from .one_sided_weights import OneSidedWeights
from .saturating_activations import SaturatingActivations
from .shared_filler_mismatch import SharedFillerMismatch
from .signal_scale import SignalScale
from .sparse_out_of_range import SparseOutOfRange
from .sparse_without_gaussian import SparseWithoutGaussian
from .transposed_fans import TransposedFans
from .uniform_min_above_max import UniformMinAboveMax
from .unknown_field import UnknownField
from .unknown_filler_type import UnknownFillerType
from .unknown_layer_type import UnknownLayerType
from .unused_filler import UnusedFiller
from .unused_suppression import UnusedSuppression
from .weights_from_caffemodel import WeightsFromCaffemodel
from .xavier_before_relu import XavierBeforeRelu

RULES: tuple[type[Rule], ...] = tuple(sorted((
    CaffeAborts, MissingWeightFiller, ConstantWeights, UnknownFillerType,
    SparseWithoutGaussian, SparseOutOfRange, UniformMinAboveMax, BilinearBadKernel,
    LegacyAxesFill, NonpositiveStd, UnknownField, UnknownLayerType,
    IgnoredFillerField, SignalScale, BilinearMisuse, BilinearGeometry, SharedFillerMismatch,
    TransposedFans, FrozenRandomFiller, UnusedFiller, DefaultUnitStd, OneSidedWeights,
    XavierBeforeRelu, MsraBeforeSaturating, LegacySyntax, BilinearProfile, NdFansProfile,
    WeightsFromCaffemodel, UnusedSuppression, SaturatingActivations, GradientScale,
), key=lambda rule: rule.code))

BY_CODE: dict[str, type[Rule]] = {rule.code: rule for rule in RULES}


def rule_for(code: str) -> type[Rule] | None:
    """The rule with this code (case-insensitive), or None."""
    return BY_CODE.get(code.strip().upper())


__all__ = ["BY_CODE", "RULES", "Rule", "rule_for"]
