locals {
  per_replica = 100 / 0
}
