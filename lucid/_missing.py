"""The names of lucid 3.8 that lucid-ctc does not have, and the AttributeError that says so.

This is the one list: the packages' ``__getattr__`` (lucid, lucid.nn, lucid.nn.functional,
lucid.nn.utils, lucid.optim, lucid.optim.lr_scheduler, lucid.utils, lucid.utils.data,
lucid.autograd) raise :func:`missing` for a name that lucid 3.8 exports there and we lack, and
docs/coming_from.rst repeats the list (a test checks that the two agree). The names are those
of each module's ``__all__`` in lucid 3.8.0.
"""

from __future__ import annotations

from collections.abc import Callable

DOCS = "docs/coming_from.rst"

_LUCID38_ONLY = {
    "lucid": """
        absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr adjoint all amp angle any
        arccos arccosh arcsin arcsinh arctan arctan2 arctanh are_deterministic_algorithms_enabled
        argsort asin asinh atan atan2 atanh atleast_1d atleast_2d atleast_3d backends baddbmm
        bernoulli bfloat16 bitwise_and bitwise_left_shift bitwise_not bitwise_or
        bitwise_right_shift bitwise_xor block_diag bmm broadcast_to bucketize can_cast
        cartesian_prod ceil chunk clip clone column_stack compile complex complex128 complex64
        concat conj conj_physical contiguous cos cosh cummax cummin cumprod cumsum detach
        DeviceLike diagonal diff diffeq div divide dsplit dstack DTypeLike dtypes e einops eq
        equal erf erfinv exp2 expand expm1 fft finfo flip fliplr flipud float_power floor fmax
        fmin fmod frac from_dlpack func gather ge ger get_num_interop_threads greater
        greater_equal gt HasShape heaviside histc hsplit hstack hypot iinfo imag index_select inf
        inference_mode is_complex is_conj is_floating_point is_neg is_nonzero is_same_size
        is_signed is_storage is_tensor isclose isfinite isin isinf isnan isneginf isposinf isreal
        kron kthvalue le lerp less less_equal linalg load_safetensors load_sharded log10 log1p
        log2 logaddexp logical_and logical_not logical_or logical_xor logit logspace logsumexp lt
        masked_fill masked_select meshgrid mm moveaxis movedim mul multiply mv nan nan_to_num
        nanmean nanmedian nansum narrow ne neg negative newaxis nextafter nonzero normal not_equal
        numel pad pi polar positive pow prod profiler promote_types quantization ravel real
        reciprocal relu remainder repeat repeat_interleave resolve_conj resolve_neg result_type
        roll rot90 round row_stack rsqrt rsub save_safetensors save_sharded Scalar scatter
        scatter_add searchsorted set_num_interop_threads ShapeLike sign signal signbit sin sinc
        sinh sort special split square StateDict sub subtract SupportsGrad SupportsNumpyConversion
        swapaxes swapdims t take take_along_dim tan tensor_split tensordot TensorLike
        TensorLikeProtocol TensorOrScalar test tile to_dlpack trace tril triu true_divide trunc
        unbind unflatten unique use_deterministic_algorithms vdot view view_as_complex
        view_as_real vsplit vstack weights xlogy
    """,
    "lucid.nn": """
        AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveMaxPool1d AdaptiveMaxPool2d
        AdaptiveMaxPool3d AlphaDropout AvgPool1d AvgPool2d AvgPool3d BatchNorm1d BatchNorm2d
        BatchNorm3d BCELoss BCEWithLogitsLoss Bilinear CELU ChannelShuffle CircularPad1d
        CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d ConstantPad3d Conv2d Conv3d
        ConvTranspose1d ConvTranspose2d ConvTranspose3d CosineEmbeddingLoss CosineSimilarity
        Dropout1d Dropout2d Dropout3d ELU EmbeddingBag FeatureAlphaDropout Flatten Fold
        FractionalMaxPool2d FractionalMaxPool3d FusedLinear GaussianNLLLoss GLU
        GroupedQueryAttention GroupNorm GRUCell Hardshrink Hardsigmoid Hardswish Hardtanh
        HingeEmbeddingLoss HuberLoss Identity init InstanceNorm1d InstanceNorm2d InstanceNorm3d
        intrinsic KLDivLoss L1Loss LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d LazyConv1d
        LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d
        LazyInstanceNorm1d LazyInstanceNorm2d LazyInstanceNorm3d LazyLinear LeakyReLU
        LocalResponseNorm LogSigmoid LogSoftmax LPPool1d LPPool2d LPPool3d LSTMCell
        MarginRankingLoss MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d Mish ModuleDict
        ModuleList MultiheadAttention MultilabelMarginLoss MultiLabelMarginLoss
        MultiLabelSoftMarginLoss MultiMarginLoss MultiQueryAttention NoisyLinear PairwiseDistance
        ParameterDict ParameterList PixelShuffle PixelUnshuffle PoissonNLLLoss PReLU qat quantized
        ReflectionPad1d ReflectionPad2d ReflectionPad3d register_module_forward_hook
        register_module_forward_pre_hook register_module_full_backward_hook
        register_module_full_backward_pre_hook register_module_load_state_dict_post_hook
        register_module_load_state_dict_pre_hook ReLU6 RemovableHandle ReplicationPad1d
        ReplicationPad2d ReplicationPad3d RMSNorm RNN RNNCell RotaryEmbedding RReLU SELU SiLU
        SinusoidalEmbedding SinusoidalEmbedding2D SmoothL1Loss SoftMarginLoss Softmax Softmax2d
        Softmin Softplus Softshrink Softsign Tanhshrink Threshold TimestepEmbedding Transformer
        TransformerDecoder TransformerDecoderLayer TransformerEncoder TransformerEncoderLayer
        TripletMarginLoss TripletMarginWithDistanceLoss Unflatten Unfold UninitializedParameter
        UninitializedParameterWarning Upsample UpsamplingBilinear2d UpsamplingNearest2d
        VectorQuantizer VectorQuantizerOutput ZeroPad1d ZeroPad2d ZeroPad3d
    """,
    "lucid.nn.functional": """
        accuracy adaptive_avg_pool1d adaptive_avg_pool2d adaptive_avg_pool3d adaptive_max_pool1d
        adaptive_max_pool2d adaptive_max_pool3d affine_grid alpha_dropout apply_rotary_emb
        avg_pool1d avg_pool2d avg_pool3d batch_norm bilinear binary_cross_entropy
        binary_cross_entropy_with_logits celu channel_shuffle conv2d conv3d conv_transpose1d
        conv_transpose2d conv_transpose3d correct_count cosine_embedding_loss cosine_similarity
        dropout1d dropout2d dropout3d elu elu_ embedding_bag feature_alpha_dropout fold
        fractional_max_pool2d fractional_max_pool3d fused_linear_gelu fused_linear_relu
        gaussian_nll_loss glu grid_sample group_norm gumbel_softmax hardshrink hardsigmoid
        hardswish hardtanh hardtanh_ hinge_embedding_loss huber_loss instance_norm interpolate
        kl_div l1_loss leaky_relu leaky_relu_ local_response_norm logsigmoid lp_pool1d lp_pool2d
        lp_pool3d margin_ranking_loss max_pool2d max_pool3d max_unpool1d max_unpool2d max_unpool3d
        mish multi_head_attention_forward multi_margin_loss multilabel_margin_loss
        multilabel_soft_margin_loss nearest_codebook noisy_linear normalize one_hot pad
        pairwise_distance pdist pixel_shuffle pixel_unshuffle poisson_nll_loss prelu relu6 relu_
        repeat_kv rms_norm rrelu rrelu_ scaled_dot_product_attention scaled_noise selu selu_ silu
        sinusoidal_embedding sinusoidal_embedding_2d smooth_l1_loss soft_margin_loss softmin
        softplus softshrink softsign straight_through symexp symlog tanhshrink threshold
        threshold_ triplet_margin_loss triplet_margin_with_distance_loss two_hot unfold
        vector_quantize
    """,
    "lucid.nn.utils": """
        copy_parameters_and_buffers fuse_conv_bn_eval fuse_conv_bn_weights fuse_linear_bn_eval
        fuse_linear_bn_weights fusion parametrizations parametrize prune remove_spectral_norm
        remove_weight_norm skip_init spectral_norm weight_norm
    """,
    "lucid.optim": """
        Adadelta Adagrad Adamax ASGD ChainedScheduler ConstantLR CosineAnnealingWarmRestarts
        CyclicLR LBFGS LinearLR MultiplicativeLR MultiStepLR NAdam NoamScheduler OneCycleLR
        PolynomialLR RAdam ReduceLROnPlateau RMSprop Rprop SequentialLR SparseAdam
    """,
    "lucid.optim.lr_scheduler": """
        ChainedScheduler ConstantLR CosineAnnealingWarmRestarts CyclicLR LinearLR MultiplicativeLR
        MultiStepLR NoamScheduler OneCycleLR PolynomialLR ReduceLROnPlateau SequentialLR
    """,
    "lucid.utils": """
        cache checkpoint rollout tokenizer transforms
    """,
    "lucid.utils.data": """
        ChainDataset CutMixCollator DistributedSampler get_worker_info MixupCollator
        RandomMixupCutMixCollator RASampler StackDataset WorkerInfo
    """,
    "lucid.autograd": """
        backward checkpoint detect_anomaly Function FunctionCtx grad gradcheck gradgradcheck graph
        hessian inference_mode is_anomaly_enabled jacobian jvp profiler set_detect_anomaly vjp
    """,
}

LUCID38_ONLY: dict[str, frozenset] = {
    module: frozenset(names.split()) for module, names in _LUCID38_ONLY.items()}


def missing(module: str, name: str) -> AttributeError:
    """The error for ``module.name``: it points to the docs when lucid 3.8 has the name."""
    text = f"module {module!r} has no attribute {name!r}"
    if name in LUCID38_ONLY.get(module, ()):
        text += (f": lucid 3.8 has {module}.{name}, lucid-ctc does not ({DOCS}, 'What is "
                 f"missing', lists every such name)")
    return AttributeError(text)


def module_getattr(module: str) -> Callable[[str], object]:
    """A module-level ``__getattr__`` for ``module`` (called only for names it lacks)."""

    def __getattr__(name: str) -> object:
        raise missing(module, name)

    return __getattr__
