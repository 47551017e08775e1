// Copy buttons on console blocks copy the commands only: no "$ " prompt, no expected output.
// Material copies the text of the nearest [data-copy] element when there is one.
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll(".language-console pre, pre.language-console").forEach(function (pre) {
    var lines = pre.innerText.split("\n");
    var commands = [];
    var continuing = false;
    lines.forEach(function (line) {
      if (line.startsWith("$ ")) {
        commands.push(line.slice(2));
        continuing = line.endsWith("\\");
      } else if (continuing) {
        commands.push(line);
        continuing = line.endsWith("\\");
      }
    });
    if (commands.length) {
      pre.setAttribute("data-copy", commands.join("\n"));
    }
  });
});
