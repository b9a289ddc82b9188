package tabular

// PageRead is the read buffer ReadPiece gives parquet-go for a piece's
// pages: a test reads the same pages with parquet-go alone through it.
const PageRead = pageRead
