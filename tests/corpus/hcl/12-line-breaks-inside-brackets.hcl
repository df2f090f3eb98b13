output "o" {
  value = [(1 +
    2), (true ?
    "a" :
    "b"), "n=${1 +
  2}"]
}
