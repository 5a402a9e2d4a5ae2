//! Imagenette (v2, 160 px): `imagenette2-160/{train,val}/<wnid>/*.JPEG`, ten
//! ImageNet classes labelled in sorted WordNet-id order. Images are decoded in
//! parallel, centre-cropped to a square and resized to `size × size`.

use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::dataset::Dataset;
use super::error::{check_folder, invalid, DataError, Hint};
use super::image::{read_jpeg, square_resize};
use super::kind::{DatasetKind, Split};

/// The folder the archive extracts to, inside the data directory.
pub const IMAGENETTE_DIR: &str = "imagenette2-160";

/// The classes' WordNet ids, sorted: label `i` is `IMAGENETTE_CLASSES[i]`.
pub const IMAGENETTE_CLASSES: [&str; 10] = [
    "n01440764", // tench
    "n02102040", // English springer
    "n02979186", // cassette player
    "n03000684", // chain saw
    "n03028079", // church
    "n03394916", // French horn
    "n03417042", // garbage truck
    "n03425413", // gas pump
    "n03445777", // golf ball
    "n03888257", // parachute
];

/// Side length of the square images unless told otherwise.
pub const DEFAULT_IMAGE_SIZE: usize = 64;

/// The split's folder name: `train` or `val`.
pub fn imagenette_split_dir(split: Split) -> &'static str {
    match split {
        Split::Train => "train",
        Split::Test => "val",
    }
}

/// Load `split` of Imagenette from `dir/imagenette2-160/` as 3 × `size` × `size`
/// images. Errors name the file or folder and the `cb data fetch imagenette` command.
pub fn load_imagenette(dir: &Path, split: Split, size: usize) -> Result<Dataset, DataError> {
    let root = dir.join(IMAGENETTE_DIR).join(imagenette_split_dir(split));
    Dataset::from_image_folder(&root, Some(&IMAGENETTE_CLASSES), size)
        .map_err(|e| e.with_hint(DatasetKind::Imagenette.fetch_hint(dir)))
}

impl Dataset {
    /// Load `root/<class>/*.{jpg,jpeg}` (any case) as RGB `size × size` images,
    /// centre-cropped and resized. `classes` fixes the class folders and their
    /// labels (each must exist and hold an image); `None` takes every subfolder,
    /// sorted by name. Samples are ordered by label, then file name.
    pub fn from_image_folder(
        root: &Path,
        classes: Option<&[&str]>,
        size: usize,
    ) -> Result<Dataset, DataError> {
        if size == 0 {
            return Err(invalid(root, "image folder", "image size 0 requested"));
        }
        check_folder(root)?;
        let names: Vec<String> = match classes {
            Some(c) => c.iter().map(|s| s.to_string()).collect(),
            None => {
                let mut v: Vec<String> = list(root)?
                    .into_iter()
                    .filter(|p| p.is_dir())
                    .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
                    .collect();
                v.sort();
                v
            }
        };
        if names.is_empty() || names.len() > 256 {
            return Err(invalid(
                root,
                "image folder",
                format!("{} class folders (expected 1 to 256)", names.len()),
            ));
        }
        let mut files: Vec<(PathBuf, u8)> = Vec::new();
        for (label, name) in names.iter().enumerate() {
            let folder = root.join(name);
            check_folder(&folder)?;
            // Whatever is named like an image must be one: reading it says
            // what else it is (a folder, a broken link) rather than skip it.
            let mut images: Vec<PathBuf> = list(&folder)?
                .into_iter()
                .filter(|p| is_jpeg_name(p))
                .collect();
            if images.is_empty() {
                return Err(invalid(&folder, "image folder", "no .JPEG files"));
            }
            images.sort();
            files.extend(images.into_iter().map(|p| (p, label as u8)));
        }
        let image_len = 3 * size * size;
        let mut pixels = vec![0f32; files.len() * image_len];
        pixels
            .par_chunks_mut(image_len)
            .zip(files.par_iter())
            .try_for_each(|(out, (path, _))| {
                let image = read_jpeg(path)?;
                out.copy_from_slice(&square_resize(&image, size));
                Ok::<(), DataError>(())
            })?;
        Ok(Dataset {
            images: pixels,
            labels: files.iter().map(|(_, l)| *l).collect(),
            channels: 3,
            rows: size,
            cols: size,
            num_classes: names.len(),
        })
    }
}

fn is_jpeg_name(p: &Path) -> bool {
    p.extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .is_some_and(|e| e == "jpeg" || e == "jpg")
}

/// The entries of a folder.
fn list(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let read = |source| DataError::Read {
        path: dir.to_path_buf(),
        source,
        hint: Hint::none(),
    };
    std::fs::read_dir(dir)
        .map_err(read)?
        .map(|e| e.map(|e| e.path()).map_err(read))
        .collect()
}
