"""ColOut: drop the same random rows and columns from every image of the batch (Composer's)."""

from composer.algorithms import ColOut

from trickstack.core.params import Param
from trickstack.tricks.registry import Citation, register_trick


@register_trick(
    name="colout",
    year=2022,
    summary="Drop random rows and columns of the images of each batch: smaller, cheaper, varied inputs",
    citation=Citation(
        "ColOut, created by Cory Stephenson at MosaicML for Composer",
        "https://github.com/mosaicml/composer/tree/v0.32.1/composer/algorithms/colout",
    ),
    domains=("vision",),
    changes=("data",),
    # rows and columns of (H, W) images; the model must accept the smaller images that result
    requires=("images2d", "resizable_images"),
    params=(
        Param("p_row", 0.15, low=0.05, high=0.5, help="fraction of the rows dropped (rounded so at least one is)"),
        Param("p_col", 0.15, low=0.05, high=0.5, help="fraction of the columns dropped (rounded so at least one is)"),
    ),
)
def colout(p_row: float, p_col: float) -> ColOut:
    # batch=True: on the tensors of each batch at AFTER_DATALOADER (the other mode needs a torchvision dataset)
    return ColOut(p_row=p_row, p_col=p_col, batch=True)
