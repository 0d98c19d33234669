// The unchanged One-Click frontend, driven in Debian's chromium with playwright-core,
// through the flow a new user clicks: every step is checked by what the page shows.
//
// Run by tests/browser/test_frontend_flow.py, which starts the server, creates the users
// and checks the database and the cluster afterwards. Input (environment):
//   BASE_URL            the local server serving the built frontend at /
//   USER_EMAIL, USER_PASSWORD, OTHER_EMAIL, OTHER_PASSWORD
//   BLUEPRINT_YAML      the manifest typed into the blueprint editor
//   MONACO_DIR          node_modules/monaco-editor/min: the editor the frontend loads from a
//                       CDN at run time, answered locally (there is no internet here)
//   REGISTRY_HOST, REGISTRY_REPOSITORY, REGISTRY_NEWER_TAG
//                       a local registry holding 1.0.0 and that newer tag of the repository
//   ARTIFACTS           folder for screenshots and result.json
//   PHASE               "build" (sign in, create and change everything) or "teardown"
//                       (delete what "build" made; STATE carries its ids), so the caller can
//                       check the cluster in between
// Output: result.json (and stdout) {steps: [{name, ok, ms, error}], pageErrors, serverErrors,
// state: {...ids the Python side checks}}. Exit code 0 even when a step fails: the caller
// judges the table.
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`missing ${name}`);
  return value;
};
const BASE = env("BASE_URL");
const ARTIFACTS = env("ARTIFACTS");
const MONACO_DIR = env("MONACO_DIR");
const REGISTRY_HOST = env("REGISTRY_HOST");
const REGISTRY_REPOSITORY = env("REGISTRY_REPOSITORY");
const REGISTRY_NEWER_TAG = env("REGISTRY_NEWER_TAG");
const STEP_TIMEOUT = Number(process.env.STEP_TIMEOUT_MS || 60000);
fs.mkdirSync(ARTIFACTS, { recursive: true });

const PHASE = env("PHASE");
const result = { steps: [], pageErrors: [], serverErrors: [], state: JSON.parse(process.env.STATE || "{}") };
const state = result.state;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
  headless: true,
});

async function newPage(name) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 1000 } });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: BASE });
  // The editor's files, from the same monaco-editor version installed from npm.
  await context.route("**/monaco-editor@0.43.0/min/**", async (route) => {
    const wanted = new URL(route.request().url()).pathname.split("/min/")[1];
    const file = path.join(MONACO_DIR, wanted);
    if (!file.startsWith(MONACO_DIR) || !fs.existsSync(file)) return route.fulfill({ status: 404 });
    const type = file.endsWith(".css") ? "text/css" : file.endsWith(".js") ? "application/javascript" : undefined;
    return route.fulfill({ path: file, contentType: type });
  });
  // The first editor in document order: monaco lists editors in creation order, and a
  // closed accordion's editor may have been created first.
  await context.addInitScript(() => {
    globalThis.firstEditor = () =>
      (globalThis.monaco?.editor?.getEditors() ?? [])
        .filter((e) => e.getDomNode()?.isConnected)
        .sort((a, b) => (a.getDomNode().compareDocumentPosition(b.getDomNode()) & 4 ? -1 : 1))[0];
  });
  const page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT);
  page.on("pageerror", (error) =>
    result.pageErrors.push({ page: name, step: current, message: error.message, stack: error.stack }),
  );
  page.on("response", (response) => {
    if (response.status() >= 500) {
      result.serverErrors.push(`${name}: ${response.status()} ${response.request().method()} ${response.url()}`);
    }
  });
  return page;
}

let stopped = false;
let current = "";
async function step(name, page, body) {
  current = name;
  const entry = { name, ok: false, ms: 0, error: "" };
  result.steps.push(entry);
  if (stopped) {
    entry.ok = null;
    entry.error = "not run: an earlier step failed";
    return;
  }
  const started = Date.now();
  try {
    await body();
    entry.ok = true;
  } catch (error) {
    entry.error = String(error?.message || error).split("\n").slice(0, 6).join("\n");
    stopped = true;
  } finally {
    entry.ms = Date.now() - started;
    const file = `${PHASE}-${String(result.steps.length).padStart(2, "0")}-${name.replace(/[^a-z0-9]+/gi, "-")}.png`;
    await page.screenshot({ path: path.join(ARTIFACTS, file), fullPage: true }).catch(() => {});
  }
}

const text = (page, value) => page.getByText(value, { exact: false }).first();
const ids = (page) => {
  const found = new URL(page.url()).pathname.match(/projects\/(\w+)(?:\/deployments\/(\w+))?/);
  return found ? { project: found[1], deployment: found[2] } : {};
};
async function login(page, email, password) {
  await page.goto(`${BASE}/login`);
  await page.locator('input[type="email"]').fill(email);
  await page.locator('input[type="password"]').fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.waitForURL(/\/app/);
}
async function typeInEditor(page, value) {
  // setValue fires the change event svelte-monaco binds. A page may re-create its editors
  // when a store refreshes ({#key} blocks), which drops what was typed: type until the
  // editor in the document keeps the value.
  const typed = (v) => {
    const editor = globalThis.firstEditor();
    if (!editor) return false;
    if (editor.getValue() !== v) editor.getModel().setValue(v);
    return true;
  };
  for (let round = 0; round < 20; round += 1) {
    await page.waitForFunction(typed, value);
    await page.waitForTimeout(500);
    if (await page.evaluate((v) => globalThis.firstEditor()?.getValue() === v, value)) return;
  }
  throw new Error("the editor did not keep the typed value");
}

const deploymentUrl = (suffix = "") =>
  `${BASE}/app/projects/${state.project}/deployments/${state.deployment}${suffix}`;

const page = await newPage("owner");

async function build() {
  await step("log in", page, async () => {
    await login(page, env("USER_EMAIL"), env("USER_PASSWORD"));
    await text(page, "Your Projects").waitFor();
  });

  await step("create a project", page, async () => {
    await page.getByRole("button", { name: "New Project" }).click();
    await page.getByLabel("Project name *").fill("Browser Project");
    await page.getByRole("button", { name: "Create project" }).click();
    await text(page, "Project created").waitFor();
    await text(page, "Browser Project").waitFor();
  });

  await step("create a blueprint in the editor", page, async () => {
    await page.goto(`${BASE}/app/blueprints/my-blueprints`);
    await page.getByRole("button", { name: "New Blueprint" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.locator("input").nth(0).fill("Browser nginx");
    await dialog.locator("input").nth(1).fill("nginx from the browser test");
    await typeInEditor(page, env("BLUEPRINT_YAML"));
    await dialog.getByRole("button", { name: "Save" }).click();
    await text(page, "Browser nginx").waitFor();
  });

  await step("create a deployment from the blueprint", page, async () => {
    await page.goto(`${BASE}/app`);
    const card = page.locator("div.rounded-xl", { hasText: "Browser Project" }).first();
    await card.getByRole("button").click();
    await page.waitForURL(/\/app\/projects\/\w+/);
    state.project = ids(page).project;
    await page.getByRole("button", { name: "New Deployment" }).click();
    await page.getByLabel("Deployment name *").fill("web");
    await page.getByRole("dialog").getByText("Browser nginx").click();
    await page.getByRole("button", { name: "Create deployment" }).click();
    await text(page, "Deployment & initial Rollout created").waitFor();
  });

  await step("open the deployment: status OK", page, async () => {
    await page.getByText("web", { exact: true }).first().click();
    await page.waitForURL(/\/deployments\/\w+/);
    state.deployment = ids(page).deployment;
    await text(page, "Current rollout (Status: OK)").waitFor();
  });

  await step("change the image tag", page, async () => {
    await page.goto(deploymentUrl("/image"));
    await page.getByPlaceholder("latest").fill("1.27");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await text(page, "Rollout created.").waitFor();
    await page.goto(deploymentUrl());
    await text(page, "Current rollout (Status: OK)").waitFor();
  });

  await step("rollout details drawer: status and events", page, async () => {
    await page.goto(deploymentUrl("/rollouts"));
    await text(page, "nginx:1.27").waitFor();
    await page.locator("tr", { hasText: "nginx:1.27" }).locator("button").last().click();
    const drawer = page.locator("#sidebar6");
    await drawer.getByText("Rollout details").waitFor();
    await drawer.getByText("This rollout is currently deployed.").waitFor();
    await drawer.getByText("docker.io/library/nginx:1.27").waitFor();
    await drawer.getByText("Replicas").waitFor();
    await drawer.getByText("Created ServiceAccount").first().waitFor(); // an operator event
    await drawer.locator("button").first().click();
  });

  await step("roll back to the first rollout", page, async () => {
    await page.locator("tr", { hasText: "nginx:latest" }).locator('[class*="dots-menu-"]').click();
    await page.getByText("Rollback").click();
    await page.getByRole("dialog").getByRole("button", { name: "Confirm" }).click();
    await text(page, "Rollout deployed.").waitFor();
    await page.goto(deploymentUrl("/image"));
    await page.waitForFunction(() =>
      [...document.querySelectorAll("input")].some((i) => i.placeholder === "latest" && i.value === "latest"),
    );
  });

  await step("add a volume", page, async () => {
    await page.goto(deploymentUrl("/volumes"));
    await page.getByRole("button", { name: "New volume" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByPlaceholder("data", { exact: true }).fill("data");
    await dialog.getByPlaceholder("/data").fill("/data");
    await dialog.getByPlaceholder("1Gi").fill("1Gi");
    await dialog.locator('select[name="storageClass"]').selectOption("standard");
    await dialog.getByRole("button", { name: "Create volume" }).click();
    await text(page, "Rollout created.").waitFor();
    state.volume = "data";
  });

  await step("scale to 2-3 instances", page, async () => {
    await page.goto(deploymentUrl("/scale"));
    await page.locator("#maxInstances").fill("3");
    await page.locator("#minInstances").fill("2");
    await page.getByRole("button", { name: "Save", exact: true }).first().click();
    await text(page, "Rollout created.").waitFor();
    await page.goto(deploymentUrl());
    const instances = page.locator("a", { hasText: "Instances" });
    await instances.getByText("2", { exact: true }).waitFor();
  });

  await step("set an environment variable", page, async () => {
    await page.goto(deploymentUrl("/envs"));
    await typeInEditor(page, "GREETING=hello");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await text(page, "Envs and secrets updated successfully").waitFor();
  await page.waitForTimeout(1000); // the page sends its create without awaiting it
  await page.reload();
  await page.getByText("Environment Variables", { exact: true }).waitFor();
  await page.waitForFunction(() => globalThis.firstEditor()?.getValue().includes("GREETING=hello"));
  });

  await step("add an interface with an Ingress", page, async () => {
    await page.goto(deploymentUrl("/network"));
    await page.getByRole("button", { name: "New interface" }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByPlaceholder("http", { exact: true }).fill("web");
    await dialog.getByPlaceholder("8080").fill("8080");
    await dialog.locator("#ingressClassName").selectOption("nginx");
    await dialog.getByPlaceholder("app.example.com").fill("web.browser.test");
    await dialog.getByPlaceholder("/", { exact: true }).fill("/");
    await dialog.getByRole("button", { name: "Create interface" }).click();
    await text(page, "Rollout created.").waitFor();
    state.host = "web.browser.test";
  });

  await step("map: a pod's logs and events, then delete the pod", page, async () => {
    await page.goto(deploymentUrl("/map"));
    const pod = page.locator(".title", { hasText: new RegExp(`^${state.deployment}-`) }).first();
    await pod.waitFor();
    state.deletedPod = (await pod.textContent()).trim();
    await pod.click();
    await page.getByRole("tab", { name: "Logs" }).click();
    await text(page, "nginx: worker process started").waitFor();
    await page.getByRole("tab", { name: "Events" }).click();
    await text(page, "Successfully assigned").waitFor();
    await page.locator("button.bg-red-700, button[class*='bg-red']").first().click();
    await text(page, `pod ${state.deletedPod} deleted`).waitFor();
  });

  await step("point the image at a registry with auto-update, copy the webhook URL and call it as a CI job would", page, async () => {
    await page.goto(deploymentUrl("/image"));
    await page.getByPlaceholder("docker.io").fill(REGISTRY_HOST);
    await page.getByPlaceholder("nginx", { exact: true }).fill(REGISTRY_REPOSITORY);
    await page.getByPlaceholder("latest").fill("1.0.0");
    await page.locator("#tagAutoUpdateEnabled").check({ force: true });
    await page.getByPlaceholder("semver").fill("semver");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await text(page, "Rollout created.").waitFor();
    await text(page, "Auto update created.").waitFor();
    await page.goto(deploymentUrl("/image"));
    const webhook = page.getByPlaceholder("known after creation");
    await page.waitForFunction(() =>
      [...document.querySelectorAll("input")].some((i) => i.value.startsWith("/pb/auto-update/")),
    );
    await webhook.locator("xpath=..").getByRole("button").click();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    if (!copied.startsWith(`${BASE}/pb/auto-update/`)) throw new Error(`copied ${copied}`);
    const reply = await fetch(copied, { method: "POST" });
    state.webhook = { url: copied, status: reply.status, body: await reply.text() };
    if (reply.status !== 202) throw new Error(`webhook answered ${reply.status}: ${state.webhook.body}`);
  });

  await step("the next tick rolls out the newer tag the registry holds", page, async () => {
    // The id-only webhook makes the check due; the local run's tick (every minute) does it.
    const newer = `${REGISTRY_REPOSITORY}:${REGISTRY_NEWER_TAG}`; // as the table shows it
    const deadline = Date.now() + 150000;
    for (;;) {
      await page.goto(deploymentUrl("/rollouts"));
      try {
        await text(page, newer).waitFor({ timeout: 5000 });
        break;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`no rollout of ${newer} within 150 s`);
        await page.waitForTimeout(5000);
      }
    }
    await page.goto(deploymentUrl());
    await text(page, "Current rollout (Status: OK)").waitFor();
    state.autoUpdatedTag = REGISTRY_NEWER_TAG;
  });

  await step("rename yourself on the profile page", page, async () => {
    await page.goto(`${BASE}/app/profile`);
    await page.getByPlaceholder("Your display name").fill("Browser Owner Renamed");
    await page.getByRole("button", { name: "Save", exact: true }).click();
    await text(page, "Successfully updated display name").waitFor();
    state.displayName = "Browser Owner Renamed";
  });

  await step("share the blueprint; another user adds it", page, async () => {
    await page.goto(`${BASE}/app/blueprints/my-blueprints`);
    await page.locator('[class*="dots-menu"]').first().click();
    await page.getByText("Share", { exact: true }).click();
    const dialog = page.getByRole("dialog");
    await dialog.getByRole("button").last().click();
    const link = await page.evaluate(() => navigator.clipboard.readText());
    if (!link.includes("/app/blueprints/shared/")) throw new Error(`copied ${link}`);
    state.sharedBlueprint = link.split("/").pop();
    const other = await newPage("other");
    await login(other, env("OTHER_EMAIL"), env("OTHER_PASSWORD"));
    await other.goto(link);
    await other.getByRole("button", { name: "Add to blueprints" }).click();
    await text(other, "Blueprint added to your community blueprints").waitFor();
    await other.goto(`${BASE}/app/blueprints/community`);
    await text(other, "Browser nginx").waitFor();
    await other.context().close();
  });
}

async function teardown() {
  await step("log in again", page, async () => {
    await login(page, env("USER_EMAIL"), env("USER_PASSWORD"));
  });

  await step("delete the deployment", page, async () => {
    // Reached by clicks as a user does: the settings page needs the project chosen on the way.
    await page.goto(`${BASE}/app`);
    await page.locator("div.rounded-xl", { hasText: "Browser Project" }).first().getByRole("button").click();
    await page.getByText("web", { exact: true }).first().click();
    await page.waitForURL(/\/deployments\/\w+/);
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("button", { name: "Delete deployment" }).click();
    await page.locator("button:visible", { hasText: "Yes, I'm sure" }).click();
    await text(page, "Deployment deleted").waitFor();
    await page.waitForURL(new RegExp(`/app/projects/${state.project}/?$`));
  });

  await step("delete the project", page, async () => {
    await page.getByRole("link", { name: "Settings" }).click();
    await page.getByRole("button", { name: "Delete project" }).click();
    await page.locator("button:visible", { hasText: "Yes, I'm sure" }).click();
    await text(page, "Project deleted").waitFor();
    await page.waitForURL(/\/app\/?$/);
    await text(page, "Your Projects (0)").waitFor();
  });
}

await (PHASE === "build" ? build() : teardown());

result.finishedAt = new Date().toISOString();
fs.writeFileSync(path.join(ARTIFACTS, `${PHASE}.json`), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
await browser.close();
