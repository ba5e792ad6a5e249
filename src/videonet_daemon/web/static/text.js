// User strings in sentences of ours (the status line): Unicode's first-strong isolate (FSI)
// and pop directional isolate (PDI) around them, so a name in Arabic or a right-to-left
// override in it reorders nothing outside it.
export function isolate(text) {
  return `\u2068${text}\u2069`;
}
