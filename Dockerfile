# PS Fabric runtime image: multi-stage, non-root, user directory on a volume.
# An LTS line of Node.js (22); the code also runs on Node 20.19+ and 24.
FROM node:22-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci
COPY . .
# Node-RED and Dashboard 2 are devDependencies of the node package (a plain Node-RED brings its own, see
# docs/packaging.md) but production dependencies of this image's launcher: make them so before pruning.
RUN npm run build \
 && node -e "const fs=require('fs');const p=require('./package.json');for(const n of ['node-red','@flowfuse/node-red-dashboard']){p.dependencies[n]=p.devDependencies[n];delete p.devDependencies[n]}fs.writeFileSync('package.json',JSON.stringify(p,null,2))" \
 && npm prune --omit=dev

# Listening on all interfaces, the runtime refuses to start without an editor login: run with
# FABRIC_ADMIN_PASSWORD_HASH (bcrypt) and FABRIC_CREDENTIAL_SECRET set (docs/security.md).
FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    FABRIC_USER_DIR=/data \
    FABRIC_HOST=0.0.0.0
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --from=build --chown=node:node /app/flows ./flows
COPY --from=build --chown=node:node /app/package.json ./package.json
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 1880 1883
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD node -e "require('http').get('http://127.0.0.1:'+(process.env.FABRIC_PORT||1880)+'/healthz',r=>process.exit(r.statusCode===200?0:1)).on('error',()=>process.exit(1))"
# 384 MB of V8 heap, as `npm start`: V8 would otherwise size it from the host RAM and let RSS grow lazily (docs/runtime.md "Memory")
CMD ["node", "--max-old-space-size=384", "dist/runtime/start.js"]
