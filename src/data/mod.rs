//! Datasets: IDX (MNIST, Fashion-MNIST) loading, fetching, augmentation.
