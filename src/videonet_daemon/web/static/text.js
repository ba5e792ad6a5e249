// User strings in sentences of ours (the status line): `said("the room ", user(name), " was
// deleted")` puts each user string in a <bdi dir=auto> of its own, so a name in Arabic or a
// right-to-left override in it reorders nothing outside it.
export function user(text) {
  return { user: String(text) };
}

// The nodes of a sentence: plain strings as text, user(...) parts isolated.
export function sentence(parts) {
  return (Array.isArray(parts) ? parts : [parts]).map((part) => {
    if (typeof part === "object" && part !== null && "user" in part) {
      const node = document.createElement("bdi");
      node.dir = "auto";
      node.textContent = part.user;
      return node;
    }
    return document.createTextNode(String(part ?? ""));
  });
}
